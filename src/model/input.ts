// A float32 NCHW batch (PyTorch's layout) onto the GPU for a schedule: uploaded as it is, then one
// pass lays it out as the kernels read it and looks for non-finite values. On the CPU the two took
// ~60 ms of a 125 ms ResNet-50 batch of 32 on an H100 machine.
import { NchwToNhwc4Program } from '../kernels/nchw-to-nhwc4';
import { bindBuffers, createBuffer, destroyBuffer, storageBuffer, uniformBuffer } from '../runtime/buffers';
import type { Gpu } from '../runtime/device';
import type { Shape4 } from '../runtime/layout';
import { getPipeline } from '../runtime/pipelines';
import type { Schedule } from '../runtime/scheduler';

export interface InputUpload {
  /** Record the layout pass, before the schedule's passes. */
  encode(encoder: GPUCommandEncoder): void;
  /** After the submit: the flat index of the first non-finite input value, if any. */
  firstNonFinite(): Promise<number | undefined>;
  destroy(): void;
}

const NONE = 0xffffffff;

/** Write `input` (NCHW, of `shape`) into `tensor`, a graph input of `schedule`. */
export async function uploadNchw(gpu: Gpu, schedule: Schedule, tensor: string, input: Float32Array, shape: Shape4): Promise<InputUpload> {
  const program = new NchwToNhwc4Program(shape);
  const pipeline = await getPipeline(gpu, program);
  const owned: GPUBuffer[] = [];
  const own = (b: GPUBuffer): GPUBuffer => (owned.push(b), b);
  try {
    // The NCHW bytes go to the buffer of the first step's output when they fit: it holds nothing
    // until that step runs, after this pass. Else to a buffer of their own.
    const first = schedule.bufferOf(schedule.spec.steps[0].output);
    const staging = first !== schedule.bufferOf(tensor) && first.size >= input.byteLength ? first : own(storageBuffer(gpu, input.byteLength, 'input, NCHW'));
    gpu.device.queue.writeBuffer(staging, 0, input.buffer, input.byteOffset, input.byteLength);
    const flag = own(storageBuffer(gpu, 4, 'input, first non-finite'));
    gpu.device.queue.writeBuffer(flag, 0, new Uint32Array([NONE]));
    // NONE from the start too: if the submit fails (a WebGPU error, reported as such), nothing is copied here.
    const readback = own(createBuffer(gpu, 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'input, first non-finite readback', true));
    new Uint32Array(readback.getMappedRange()).fill(NONE);
    readback.unmap();
    const bindGroup = bindBuffers(gpu, pipeline, [own(uniformBuffer(gpu, program.uniforms, 'input layout params')), staging, schedule.bufferOf(tensor), flag]);
    return {
      encode(encoder) {
        const pass = encoder.beginComputePass({ label: 'input layout' });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(...program.workgroups);
        pass.end();
        encoder.copyBufferToBuffer(flag, 0, readback, 0, 4);
      },
      async firstNonFinite() {
        await readback.mapAsync(GPUMapMode.READ);
        const index = new Uint32Array(readback.getMappedRange())[0];
        readback.unmap();
        return index === NONE ? undefined : index;
      },
      destroy: () => owned.forEach((b) => destroyBuffer(gpu, b)),
    };
  } catch (e) {
    owned.forEach((b) => destroyBuffer(gpu, b));
    throw e;
  }
}
