import { autotune, type KernelChoices } from './autotune';
import { bindBuffers, createBuffer, destroyBuffer, storageBuffer, uniformBuffer } from './buffers';
import { WaitHold, type Gpu } from './device';
import { GpuError } from './errors';
import { getPipeline } from './pipelines';
import { planMemory, type MemoryPlan } from './planner';
import type { Program } from './program';

/** One kernel dispatch in a graph: what it reads (activations by name, or weight buffers) and writes. */
export interface Step {
  label: string;
  program: Program;
  inputs: (string | GPUBuffer)[];
  output: string;
  /** A tensor this step reads for the last time and overwrites: the output takes its buffer. */
  inPlace?: string;
  /** Programs interchangeable with `program` (it among them): the autotune runs the fastest. */
  candidates?: Program[];
}

export interface GraphSpec {
  steps: Step[];
  /** Byte size of every activation tensor (graph inputs included). */
  tensorBytes: Map<string, number>;
  inputs: string[];
  outputs: string[];
}

/**
 * A graph made ready to run: activation buffers placed by the memory planner, uniforms written,
 * kernel variants picked by the autotune, pipelines compiled and bind groups built, all once. An
 * inference is then one command encoder holding one compute pass with every dispatch, plus a
 * copy of the requested outputs.
 */
export class Schedule {
  private constructor(
    private readonly gpu: Gpu,
    /** The graph as run: each step's `program` is the autotune's pick. */
    readonly spec: GraphSpec,
    readonly memory: MemoryPlan,
    /** What the autotune decided for the steps that had candidates. */
    readonly kernels: KernelChoices,
    private readonly slots: GPUBuffer[],
    private readonly uniforms: GPUBuffer[],
    private readonly pipelines: GPUComputePipeline[],
    private readonly bindGroups: GPUBindGroup[],
  ) {
    this.hold = new WaitHold(gpu);
  }

  /** Read-back buffers by the outputs they hold (`run`'s), each with its NaN fill. */
  private readonly readbacks = new Map<string, { buffer: GPUBuffer; blank: Float32Array }>();
  /** Keeps a run's wait for its result off Dawn's ticks in Node on a CPU adapter while the work is expected to go on. */
  private readonly hold: WaitHold;

  static async create(gpu: Gpu, spec: GraphSpec): Promise<Schedule> {
    const memory = planMemory(
      spec.steps.map((s) => ({ inputs: s.inputs.filter((i): i is string => typeof i === 'string'), output: s.output, inPlace: s.inPlace })),
      spec.tensorBytes,
      spec.inputs,
      spec.outputs,
    );
    const slots: GPUBuffer[] = [];
    const uniforms: GPUBuffer[] = [];
    try {
      for (const [i, bytes] of memory.slotBytes.entries()) slots.push(storageBuffer(gpu, bytes, `activations ${i}`));
      const bufferOf = (t: string | GPUBuffer): GPUBuffer => (typeof t === 'string' ? slots[memory.slotOf.get(t)!] : t);
      const bind = (step: Step, params: GPUBuffer, pipeline: GPUComputePipeline): GPUBindGroup =>
        bindBuffers(gpu, pipeline, [params, ...step.inputs.map(bufferOf), bufferOf(step.output)], step.label);
      // The autotune runs each candidate on its step's buffers, with the candidate's own uniforms.
      const tuned = spec.steps.filter((step) => step.candidates);
      const picked = await autotune(
        gpu,
        tuned.map((step) => ({ label: step.label, candidates: step.candidates!, bind: (_, pipeline, params) => bind(step, params, pipeline) })),
      );
      const steps = spec.steps.map((step) => (step.candidates ? { ...step, program: picked.programs[tuned.indexOf(step)] } : step));
      for (const s of steps) uniforms.push(uniformBuffer(gpu, s.program.uniforms, `${s.label} params`));
      const pipelines = await Promise.all(steps.map((s) => getPipeline(gpu, s.program)));
      // The scope opens after the await: scopes are per device, and another model's calls may interleave with an await.
      gpu.device.pushErrorScope('validation');
      const bindGroups = pipelines.map((pipeline, i) => bind(steps[i], uniforms[i], pipeline));
      const error = await gpu.device.popErrorScope();
      if (error) throw new GpuError(`building the inference schedule failed: ${error.message}`);
      return new Schedule(gpu, { ...spec, steps }, memory, picked.choices, slots, uniforms, pipelines, bindGroups);
    } catch (e) {
      for (const b of [...slots, ...uniforms]) destroyBuffer(gpu, b);
      throw e;
    }
  }

  bufferOf(tensor: string): GPUBuffer {
    const slot = this.memory.slotOf.get(tensor);
    if (slot === undefined) throw new Error(`schedule: unknown tensor ${tensor}`);
    return this.slots[slot];
  }

  /** Record every dispatch; with `timestamps`, each step gets its own pass bracketed by two queries. */
  encode(encoder: GPUCommandEncoder, timestamps?: GPUQuerySet): void {
    if (!timestamps) {
      const pass = encoder.beginComputePass();
      this.spec.steps.forEach((_, i) => this.dispatch(pass, i, i > 0 && this.pipelines[i] === this.pipelines[i - 1]));
      pass.end();
      return;
    }
    this.spec.steps.forEach((step, i) => {
      const pass = encoder.beginComputePass({
        label: step.label,
        timestampWrites: { querySet: timestamps, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      this.dispatch(pass, i);
      pass.end();
    });
  }

  /** One step's dispatch; `samePipeline`: the pass has the step's pipeline set already (consecutive convs on one kernel). */
  private dispatch(pass: GPUComputePassEncoder, i: number, samePipeline = false): void {
    if (!samePipeline) pass.setPipeline(this.pipelines[i]);
    pass.setBindGroup(0, this.bindGroups[i]);
    pass.dispatchWorkgroups(...this.spec.steps[i].program.workgroups);
  }

  /**
   * Write the graph inputs, run every step, and read back only `outputs`. `before` may record
   * passes that fill the inputs on the GPU instead (image preprocessing), in the same submit.
   */
  async run(inputs: Record<string, ArrayBufferView>, outputs: string[], before?: (encoder: GPUCommandEncoder) => void): Promise<Record<string, Float32Array>> {
    const { device } = this.gpu;
    for (const [name, data] of Object.entries(inputs)) {
      device.queue.writeBuffer(this.bufferOf(name), 0, data.buffer, data.byteOffset, data.byteLength);
    }
    const sizes = outputs.map((t) => this.spec.tensorBytes.get(t)!);
    const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + Math.ceil(b / 4) * 4, 0));
    const total = offsets.length ? offsets[offsets.length - 1] + sizes[sizes.length - 1] : 0;
    // One read-back buffer per set of outputs, kept for the schedule's later runs, and filled with
    // NaN before each: should the submit fail, the result is NaN, not the last run's.
    const key = outputs.join();
    let readback = this.readbacks.get(key);
    if (!readback) {
      readback = { buffer: createBuffer(this.gpu, total, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'readback'), blank: new Float32Array(Math.ceil(total / 4)).fill(NaN) };
      this.readbacks.set(key, readback);
    }
    const staging = readback.buffer;
    device.queue.writeBuffer(staging, 0, readback.blank);
    const encoder = device.createCommandEncoder();
    before?.(encoder);
    this.encode(encoder);
    outputs.forEach((t, i) => encoder.copyBufferToBuffer(this.bufferOf(t), 0, staging, offsets[i], Math.ceil(sizes[i] / 4) * 4));
    device.queue.submit([encoder.finish()]);
    this.hold.start();
    await this.gpu.quiet;
    await staging.mapAsync(GPUMapMode.READ);
    this.hold.done();
    const result: Record<string, Float32Array> = {};
    outputs.forEach((t, i) => (result[t] = new Float32Array(staging.getMappedRange(offsets[i], Math.ceil(sizes[i] / 4) * 4).slice(0))));
    staging.unmap();
    return result;
  }

  destroy(): void {
    for (const b of [...this.slots, ...this.uniforms, ...[...this.readbacks.values()].map((r) => r.buffer)]) destroyBuffer(this.gpu, b);
    this.slots.length = 0;
    this.uniforms.length = 0;
    this.readbacks.clear();
  }
}
