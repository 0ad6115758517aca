// A float32 NCHW batch (PyTorch's layout) onto the GPU for a schedule: copied into a mapped upload
// buffer, then one pass lays it out as the kernels read it and looks for non-finite values. On the
// CPU the two took ~60 ms of a 125 ms ResNet-50 batch of 32 on an H100 machine. Everything here
// is made once per schedule and reused by its runs: on that machine queue.writeBuffer of a batch
// of 32 (19 MB) took ~15 ms a run, Dawn staging each large write in memory allocated afresh.
import { NchwToNhwc4Program } from '../kernels/nchw-to-nhwc4';
import { bindBuffers, createBuffer, destroyBuffer, storageBuffer, uniformBuffer } from '../runtime/buffers';
import type { Gpu } from '../runtime/device';
import type { Shape4 } from '../runtime/layout';
import { getPipeline } from '../runtime/pipelines';
import type { Schedule } from '../runtime/scheduler';

const NONE = 0xffffffff;
const NONE_WORD = new Uint32Array([NONE]);

/**
 * A schedule's NCHW input path, for `ResNetModel.run`: `write` each run's input, `encode` the copy
 * and the layout pass before the schedule's passes, then `firstNonFinite` after the submit.
 */
export class NchwInput {
  private constructor(
    private readonly gpu: Gpu,
    private readonly program: NchwToNhwc4Program,
    private readonly bytes: number,
    private readonly pipeline: GPUComputePipeline,
    private readonly bindGroup: GPUBindGroup,
    /** MAP_WRITE: mapped at creation and again after each run's submit (mapForNext); `write` unmaps it for the run's copy. */
    private readonly upload: GPUBuffer,
    /** Where the layout pass reads the NCHW values. */
    private readonly nchw: GPUBuffer,
    private readonly flag: GPUBuffer,
    private readonly readback: GPUBuffer,
    private readonly owned: GPUBuffer[],
  ) {}

  /** The upload buffer's mapping for the next run, once asked for (mapForNext). */
  private mapping?: Promise<void>;

  /** The input path of `tensor`, a graph input of `schedule`, for inputs of `shape`. */
  static async create(gpu: Gpu, schedule: Schedule, tensor: string, shape: Shape4): Promise<NchwInput> {
    const program = new NchwToNhwc4Program(shape);
    const pipeline = await getPipeline(gpu, program);
    const bytes = shape.n * shape.c * shape.h * shape.w * 4;
    const owned: GPUBuffer[] = [];
    const own = (b: GPUBuffer): GPUBuffer => (owned.push(b), b);
    try {
      const upload = own(createBuffer(gpu, bytes, GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, 'input, NCHW upload', true));
      // The NCHW values go to the buffer of the first step's output when they fit: it holds nothing
      // until that step runs, after the layout pass. Else to a buffer of their own.
      const first = schedule.bufferOf(schedule.spec.steps[0].output);
      const nchw = first !== schedule.bufferOf(tensor) && first.size >= bytes ? first : own(storageBuffer(gpu, bytes, 'input, NCHW'));
      const flag = own(storageBuffer(gpu, 4, 'input, first non-finite'));
      const readback = own(createBuffer(gpu, 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'input, first non-finite readback'));
      const bindGroup = bindBuffers(gpu, pipeline, [own(uniformBuffer(gpu, program.uniforms, 'input layout params')), nchw, schedule.bufferOf(tensor), flag]);
      return new NchwInput(gpu, program, bytes, pipeline, bindGroup, upload, nchw, flag, readback, owned);
    } catch (e) {
      owned.forEach((b) => destroyBuffer(gpu, b));
      throw e;
    }
  }

  /**
   * Copy the next run's input (NCHW, of the shape given to create) into the upload buffer now, if
   * it is mapped; whether it did. The run's `write` then gets no input.
   */
  stage(input: Float32Array): boolean {
    if (this.upload.mapState !== 'mapped') return false;
    new Float32Array(this.upload.getMappedRange(0, this.bytes)).set(input);
    return true;
  }

  /** Make the upload buffer ready for the run: `input` copied in (none: `stage` did). */
  async write(input?: Float32Array): Promise<void> {
    if (input) {
      if (!this.mapping && this.upload.mapState === 'unmapped') this.mapForNext();
      await this.mapping;
      new Float32Array(this.upload.getMappedRange(0, this.bytes)).set(input);
    }
    this.upload.unmap();
    this.mapping = undefined;
    // The read-back too: should the submit fail (a WebGPU error, reported as such), nothing is copied there.
    for (const b of [this.flag, this.readback]) this.gpu.device.queue.writeBuffer(b, 0, NONE_WORD);
  }

  /**
   * After the run's submit: map the upload buffer again, so that the next run (once the GPU has
   * copied this one's input out) finds it mapped and can be staged when called.
   */
  mapForNext(): void {
    this.mapping = this.gpu.quiet.then(() => this.upload.mapAsync(GPUMapMode.WRITE));
    // Destroyed meanwhile (the schedule dropped, the device lost): the next write, if any, reports it.
    this.mapping.catch(() => undefined);
  }

  /** Record the copy and the layout pass, before the schedule's passes. */
  encode(encoder: GPUCommandEncoder): void {
    encoder.copyBufferToBuffer(this.upload, 0, this.nchw, 0, this.bytes);
    const pass = encoder.beginComputePass({ label: 'input layout' });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(...this.program.workgroups);
    pass.end();
    encoder.copyBufferToBuffer(this.flag, 0, this.readback, 0, 4);
  }

  /** After the submit: the flat index of the first non-finite input value, if any. */
  async firstNonFinite(): Promise<number | undefined> {
    await this.gpu.quiet;
    await this.readback.mapAsync(GPUMapMode.READ);
    const index = new Uint32Array(this.readback.getMappedRange())[0];
    this.readback.unmap();
    return index === NONE ? undefined : index;
  }

  destroy(): void {
    this.owned.forEach((b) => destroyBuffer(this.gpu, b));
    this.owned.length = 0;
  }
}
