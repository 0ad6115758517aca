import { checkBufferSize } from '../runtime/buffers';
import { describeAdapter, lostInfo, type Gpu } from '../runtime/device';
import { DeviceLostError, DisposedError, GpuError, GpuLimitError, InputError, ResnetWebGpuError, typeName, WeightsError } from '../runtime/errors';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { getPipeline } from '../runtime/pipelines';
import { Schedule, type GraphSpec } from '../runtime/scheduler';
import { bindBuffers, destroyBuffer, storageBuffer } from '../runtime/buffers';
import { Conv2dProgram, CONV_VARIANTS, defaultConvVariants, hasSubgroups, needsSubgroups, winogradGemmVariant, type ConvVariant } from '../kernels/conv2d';
import { autotune, type Candidate, type KernelChoices, type Tuning } from '../runtime/autotune';
import type { Program } from '../runtime/program';
import { buildGraph, GpuWeights, graphPrograms, PROBABILITIES, WINOGRAD_FORMS, winogradOp, winogradPrograms, type ConvPick, type WinogradForm } from './graph';
import { NchwInput } from './input';
import { checkImage, IMAGENET_PREPROCESS, preprocessImages, shrinkToFit, type RgbaImage } from './images';
import { describeResNet, expectedTensors, INPUT, LOGITS, type LayerOp, type ResNetConfig } from './resnet';
import { parameterCount, type ModelMeta, type PreparedWeights, type TensorMap } from './tensors';

export interface ModelOptions {
  /**
   * The convolution variants the autotune may choose among (default: defaultConvVariants:
   * the ksplit and tiled ones on a GPU, `quad2x2` and `quad4px` or `register` on a fallback
   * adapter; `quad4px` only on maps smaller than a `quad2x2` tile, unless it is the only one); one
   * variant runs everywhere unmeasured (Winograd aside). Winograd's GEMMs run on the first listed of
   * `quad2x2`, `quad`, `ksplit` and `ksplit16` (winogradGemmVariant), else on `register`. The quad kernels need the device's
   * 'subgroups' feature.
   */
  kernels?: readonly ConvVariant[];
  /**
   * 3×3 stride-1 convolutions as Winograd F(2×2, 3×3) or F(4×4, 3×3) (../kernels/winograd.ts):
   * 'measure' (default) where the autotune finds a form faster than the best of `kernels`,
   * 'winograd2' or 'winograd4' for every such conv, or 'never'.
   */
  winograd?: 'measure' | 'never' | WinogradForm;
}

export interface RunOptions {
  /** What to read back: raw logits (default) or softmax probabilities. */
  output?: 'logits' | 'probabilities';
}

export interface MemoryReport {
  /** Weights on the GPU: Winograd's transformed weights (16/9 or 36/9 the size of the 3×3 ones they replace) included. */
  weightBytes: number;
  /** The model's parameters as float32, for comparison. */
  parameterBytes: number;
  /** Activation buffers after liveness planning, for the last input shape run. */
  activationBytes: number;
  /** What one buffer per activation would need. */
  unplannedActivationBytes: number;
  activationBuffers: number;
  /** The two largest activations alive at the same time. */
  largestLivePairBytes: number;
  /** Every activation alive at the fullest step: what no plan of the schedule's steps, in their order, can go below. */
  largestLiveBytes: number;
}

/**
 * A ResNet on one GPU device. Weights upload and the pipelines of a first run compile at load; a
 * schedule (memory plan, bind groups) is built per input shape and kept until the shape changes:
 * untuned for the shape's first run, tuned right after it (scheduleFor_).
 *
 * Calls (`run`, `runImages`, `scheduleFor`) are queued, so concurrent callers never share buffers
 * mid-flight. If the device is lost, the calls that needed it reject with a DeviceLostError and the
 * next one makes a new device (`Gpu.restore`) and uploads the weights again from the prepared
 * tensors, which the model keeps (by reference: as much CPU memory as the weights take on the GPU;
 * do not change them after load). Every failure is a ResnetWebGpuError.
 */
export class ResNetModel {
  readonly ops: LayerOp[];
  readonly parameterCount: number;
  private weights?: GpuWeights;
  /** The `gpu.generation` the weights were uploaded to. */
  private generation = 0;
  /**
   * The current input shape's schedule, what the autotune chose for it (Winograd picks and kernel
   * variants), whether it did (false: the shape's untuned first run, see scheduleFor_), and its
   * input path (`run`'s, made on its first use).
   */
  private schedule?: { key: string; schedule: Schedule; kernels: KernelChoices; tuned: boolean; input?: NchwInput };
  /**
   * Input shapes whose runs tune first (scheduleFor_): tuned before (their picks are cached and
   * their kernels compiled), or whose tuning after their first run failed (the next run reports
   * the failure) or was skipped because another shape had replaced them.
   */
  private readonly tuneFirst = new Set<string>();
  /** Tunings queued that have not started (tuneLater). */
  private tunesQueued = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Calls queued or running. */
  private pending = 0;
  private disposed?: Promise<void>;
  /** `run`'s copy of its input when it is called with nothing queued but cannot stage it, kept for the next such call. */
  private inputCopy?: Float32Array;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ResNetConfig,
    readonly meta: ModelMeta,
    private readonly tensors: TensorMap,
    /** Where the weights came from, for messages. */
    private readonly source: string,
    ops: LayerOp[],
    private readonly kernels: readonly ConvVariant[],
    private readonly winograd: NonNullable<ModelOptions['winograd']>,
  ) {
    this.ops = ops;
    this.parameterCount = parameterCount(tensors);
  }

  static async load(gpu: Gpu, prepared: PreparedWeights, source = 'weights', options: ModelOptions = {}): Promise<ResNetModel> {
    const ops = checkPrepared(prepared, source);
    const kernels = options.kernels ?? defaultConvVariants(gpu);
    if (!Array.isArray(kernels) || kernels.length === 0 || !kernels.every((k) => CONV_VARIANTS.includes(k))) {
      throw new InputError(`options.kernels must be a non-empty list of ${CONV_VARIANTS.join(', ')}; got ${JSON.stringify(kernels)}`);
    }
    const quad = kernels.find(needsSubgroups);
    if (quad && !hasSubgroups(gpu)) throw new InputError(`options.kernels: "${quad}" needs the WebGPU 'subgroups' feature, which this device (${describeAdapter(gpu.adapter)}) lacks`);
    const winograd = options.winograd ?? 'measure';
    if (!['measure', 'never', ...WINOGRAD_FORMS.keys()].includes(winograd)) throw new InputError(`options.winograd must be "measure", "never", "winograd2" or "winograd4"; got ${JSON.stringify(winograd)}`);
    const model = new ResNetModel(gpu, prepared.config, prepared.meta, prepared.tensors, source, ops, kernels, winograd);
    let device = gpu.device;
    try {
      if (gpu.lost) await gpu.restore();
      device = gpu.device;
      await model.upload();
    } catch (e) {
      throw await libraryError(e, device);
    }
    return model;
  }

  /** Run on a normalised float32 NCHW batch `[N, C, H, W]` (PyTorch's convention); returns `[N, classes]`. */
  run(input: Float32Array, shape: number[], options: RunOptions = {}): Promise<Float32Array> {
    let s: Shape4;
    let data: Float32Array | undefined;
    try {
      s = this.checkInput(input, shape);
      this.outputName(options);
      // The caller may refill its array as soon as this returns. Idle on this shape, with its upload
      // buffer mapped, the input goes straight there; else into a copy, which the job copies there
      // in its turn: a second copy (at a batch of 32, 19 MB: ~2 ms here).
      if (!this.stageInput(input, s)) data = this.copyInput(input);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(async () => {
      const schedule = await this.scheduleFor_(s, true);
      // Laid out, and checked for NaN and ±Infinity, on the GPU (./input.ts).
      const current = this.schedule!;
      current.input ??= await NchwInput.create(this.gpu, schedule, INPUT, s);
      const upload = current.input;
      await upload.write(data);
      // Both read-backs in flight at once (execute submits before its first await).
      const done = Promise.all([this.execute(schedule, {}, this.outputName(options), (encoder) => upload.encode(encoder)), upload.firstNonFinite()]);
      upload.mapForNext();
      const [result, bad] = await done;
      // A non-finite value would spread through every convolution it touches (and, through the
      // padding mask's 0·Infinity, to border outputs): refuse it rather than return NaN logits.
      if (bad !== undefined) {
        const { c, h, w } = s;
        const at = [Math.floor(bad / (c * h * w)), Math.floor(bad / (h * w)) % c, Math.floor(bad / w) % h, bad % w];
        // Staged, the value is read from the caller's array (as it is now).
        throw new InputError(`input[${at.join(', ')}] (flat index ${bad}) is ${(data ?? input)[bad]}: inputs must be finite numbers`);
      }
      return result;
    });
  }

  /**
   * A copy of `input` for a run's job. With nothing queued, into the copy the last such call made
   * (no other job can be using it then): a fresh 19 MB array for each ResNet-50 batch of 32 cost its
   * allocation and page faults every run (`slice` ~11 ms here, against ~2 ms to refill one).
   */
  private copyInput(input: Float32Array): Float32Array {
    if (this.pending) return input.slice();
    if (this.inputCopy?.length !== input.length) this.inputCopy = new Float32Array(input.length);
    this.inputCopy.set(input);
    return this.inputCopy;
  }

  /**
   * Copy `input` into the current schedule's upload buffer at once, if the model is idle on its
   * shape and the buffer is mapped; whether it did. The call's job then starts on the next
   * microtask, on this schedule: nothing can replace it meanwhile (a device loss is noticed later).
   */
  private stageInput(input: Float32Array, s: Shape4): boolean {
    const current = this.schedule;
    const ready = !this.pending && !this.gpu.lost && this.generation === this.gpu.generation && current?.key === shapeKey(s);
    return Boolean(ready && current.input?.stage(input));
  }

  /** Run on an input already in the GPU layout (NHWC, channels padded to 4). */
  runNhwc4(input: Float32Array, shape: Shape4, options: RunOptions = {}): Promise<Float32Array> {
    const { n, h, w, c } = shape ?? {};
    if (![n, h, w, c].every((d) => Number.isSafeInteger(d) && d > 0) || c !== this.config.inputChannels) {
      return Promise.reject(new InputError(`runNhwc4 needs a shape {n, h, w, c} of positive sizes with c = ${this.config.inputChannels}, got ${JSON.stringify(shape)}`));
    }
    const values = n * h * w * Math.ceil(c / 4) * 4;
    if (!(input instanceof Float32Array) || input.length !== values) {
      return Promise.reject(new InputError(`runNhwc4 needs a Float32Array of ${values} values (NHWC, channels padded to 4), got ${typeName(input)} of ${(input as { length?: unknown })?.length} values`));
    }
    return this.enqueue(async () => {
      const schedule = await this.scheduleFor_(shape, true);
      return this.execute(schedule, { [INPUT]: input }, this.outputName(options));
    });
  }

  /**
   * Classify decoded images: each is preprocessed on the GPU as the model's config says (ImageNet's
   * transform when it says nothing) and the batch runs in one submit. Returns `[N, classes]`.
   * An image too large for one GPU buffer is first shrunk on the CPU by a whole factor (box filter).
   */
  runImages(images: RgbaImage[], options: RunOptions = {}): Promise<Float32Array> {
    try {
      if (!Array.isArray(images) || images.length === 0) throw new InputError(`runImages needs a non-empty array of images, got ${typeName(images)}`);
      images.forEach(checkImage);
      if (this.config.inputChannels !== 3) throw new InputError(`image input needs a 3-channel model; ${this.config.arch} takes ${this.config.inputChannels}`);
      this.outputName(options);
    } catch (e) {
      return Promise.reject(e);
    }
    const pre = this.meta.preprocess ?? IMAGENET_PREPROCESS;
    return this.enqueue(async () => {
      const { maxStorageBufferBindingSize, maxBufferSize } = this.gpu.device.limits;
      const fitted = images.map((image) => shrinkToFit(image, Math.min(maxStorageBufferBindingSize, maxBufferSize)));
      const schedule = await this.scheduleFor_({ n: images.length, h: pre.cropH, w: pre.cropW, c: 3 }, true);
      const prep = await preprocessImages(this.gpu, fitted, pre, schedule.bufferOf(INPUT));
      try {
        return await this.execute(schedule, {}, this.outputName(options), prep.encode);
      } finally {
        prep.destroy();
      }
    });
  }

  memory(): MemoryReport {
    const plan = this.schedule?.schedule.memory;
    return {
      weightBytes: this.weights?.bytes ?? 0,
      parameterBytes: 4 * this.parameterCount,
      activationBytes: plan?.totalBytes ?? 0,
      unplannedActivationBytes: plan?.unplannedBytes ?? 0,
      activationBuffers: plan?.slotBytes.length ?? 0,
      largestLivePairBytes: plan?.largestLivePairBytes ?? 0,
      largestLiveBytes: plan?.largestLiveBytes ?? 0,
    };
  }

  /** Which convolution variant each layer runs for the last input shape run, and how the autotune chose it. */
  kernelChoices(): KernelChoices {
    return this.schedule?.kernels ?? { tuneMs: 0, layers: [] };
  }

  /** Resolves once every call queued so far has finished (whether it succeeded or not), and the tuning a first run queued. */
  idle(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /** The tuned schedule for an input shape, built now unless it is the current one (queued like a run). */
  scheduleFor(shape: Shape4): Promise<Schedule> {
    return this.enqueue(() => this.scheduleFor_(shape));
  }

  /**
   * Free every GPU buffer the model holds: at once when no call is pending (queued tunings that
   * have not started are dropped), else as soon as the calls made before this one have settled
   * (they complete as usual). Every later call rejects with a DisposedError. Resolves once the
   * buffers are freed.
   */
  dispose(): Promise<void> {
    const free = (): void => {
      this.inputCopy = undefined;
      this.dropSchedule();
      this.weights?.destroy();
      this.weights = undefined;
    };
    if (!this.disposed) {
      if (this.pending === this.tunesQueued) {
        free();
        this.disposed = Promise.resolve();
      } else {
        this.disposed = this.queue.then(free);
      }
    }
    return this.disposed;
  }

  /** A call's job, queued (unless the model is disposed) and guarded. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new DisposedError());
    return this.chain(() => this.guarded(job));
  }

  /** Run jobs one after another: they share the schedule's buffers. */
  private chain<T>(job: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.queue.then(job);
    this.queue = result.then(
      () => void this.pending--,
      () => void this.pending--,
    );
    return result;
  }

  /**
   * Queue the tuning of a shape that has run untuned. It is skipped if the model is disposed
   * before it starts (dispose need not wait for it). If another shape has replaced this one
   * meanwhile, or it fails, the shape's next run tunes before it runs (and reports the failure).
   */
  private tuneLater(shape: Shape4, key: string): void {
    this.tunesQueued++;
    this.chain(async () => {
      this.tunesQueued--;
      if (this.disposed) return;
      if (this.schedule?.key === key && !this.schedule.tuned) await this.guarded(() => this.scheduleFor_(shape));
      else this.tuneFirst.add(key);
    }).catch(() => this.tuneFirst.add(key));
  }

  /** One job: on a working device with this model's weights on it; failures become library errors. */
  private async guarded<T>(job: () => Promise<T>): Promise<T> {
    let device = this.gpu.device;
    try {
      if (this.gpu.lost) await this.gpu.restore();
      device = this.gpu.device;
      if (this.generation !== this.gpu.generation) {
        // Everything the model built belongs to the lost device: release it (and its counts), then build anew.
        this.dropSchedule();
        this.weights?.destroy();
        this.weights = undefined;
        await this.upload();
      }
      return await job();
    } catch (e) {
      throw await libraryError(e, device);
    }
  }

  private dropSchedule(): void {
    this.schedule?.input?.destroy();
    this.schedule?.schedule.destroy();
    this.schedule = undefined;
  }

  /** Upload the weights to the current device and compile every pipeline the model uses. */
  private async upload(): Promise<void> {
    const { gpu } = this;
    const generation = gpu.generation;
    // Compile every pipeline a first run uses (scheduleFor_), in parallel, while the weights are
    // packed and uploaded (~0.3 s of script for ResNet-50). The autotune's candidates compile when
    // it measures them, after the first run.
    const form = this.winograd === 'measure' || this.winograd === 'never' ? undefined : this.winograd;
    const programs = graphPrograms(gpu, this.ops, this.config.inputChannels, this.kernels[0], form);
    const compiled = Promise.all(programs.map((program) => getPipeline(gpu, program)));
    compiled.catch(() => undefined); // awaited below, unless the weights fail first
    const { value: weights, errors } = withErrorScopes(gpu.device, () => {
      try {
        return new GpuWeights(gpu, this.ops, this.tensors);
      } catch (e) {
        if (!(e instanceof GpuLimitError)) throw e;
        throw new GpuLimitError(e.limit, `${this.source}: tensor "${e.what}" (as laid out for the GPU)`, e.bytes, e.max, 'the model is too large for this device');
      }
    });
    try {
      await throwGpuErrors(errors, 'uploading the weights');
      await Promise.all([compiled, weights.ready]);
    } catch (e) {
      weights.destroy();
      throw e;
    }
    this.weights = weights;
    this.generation = generation;
  }

  /**
   * The schedule for an input shape, built on first use; sizes are checked against the device's
   * limits first. With `untunedFirst` (a run's), a shape's first schedule is not tuned: every conv
   * runs on the first of `kernels`, as Winograd only where `winograd` names a form, and the tuned
   * schedule is built in a job queued behind the run. Measuring (and compiling the candidates it
   * measures) would hold the first result back: on a 2-core CPU adapter, ResNet-50's by ~0.9 s.
   */
  private async scheduleFor_(shape: Shape4, untunedFirst = false): Promise<Schedule> {
    const key = shapeKey(shape);
    if (this.schedule?.key !== key || !(this.schedule.tuned || untunedFirst)) {
      // Nothing to measure with one kernel and Winograd off, forced or without a conv to take.
      const measures = this.kernels.length > 1 || (this.winograd === 'measure' && this.ops.some(winogradOp));
      const tune = !untunedFirst || !measures || this.tuneFirst.has(key);
      const kernels = tune ? this.kernels : this.kernels.slice(0, 1);
      this.dropSchedule();
      const input = `input [N, C, H, W] = [${shape.n}, ${shape.c}, ${shape.h}, ${shape.w}]`;
      const check = (spec: GraphSpec): GraphSpec => {
        for (const [tensor, bytes] of spec.tensorBytes) {
          if (!(bytes > 0)) throw new InputError(`${input} is too small for ${this.config.arch}: activation "${tensor}" comes out empty`);
          checkBufferSize(this.gpu, bytes, 'storage', `${input}: activation "${tensor}"`, 'use a smaller batch or image size');
        }
        return spec;
      };
      const direct = check(buildGraph(this.ops, shape, this.weights!, kernels));
      const picked = await this.pickWinograd(direct, tune);
      const schedule = await Schedule.create(this.gpu, check(buildGraph(this.ops, shape, this.weights!, kernels, picked.picks)));
      const tuned = new Map([...picked.choices.layers, ...schedule.kernels.layers].map((t) => [t.label, t]));
      // Every conv, in run order; one with a single candidate (a Winograd form forced, or one variant in `kernels`) ran unmeasured.
      const layers = direct.steps.flatMap(({ label, program }): Tuning[] =>
        program instanceof Conv2dProgram ? [tuned.get(label) ?? { label, shape: program.tuneKey, variant: picked.picks.get(label) ?? program.variant, from: tune ? 'only' : 'untuned', ms: {} }] : [],
      );
      this.schedule = { key, schedule, kernels: { tuneMs: schedule.kernels.tuneMs + picked.choices.tuneMs, layers }, tuned: tune };
      if (tune) this.tuneFirst.add(key);
      else this.tuneLater(shape, key);
      // Building may have submitted GPU work (Winograd weights made, ./graph.ts): done once
      // the schedule is, so nothing of it is in flight when a caller that never runs the model
      // disposes it or exits (in Node, Dawn crashed on exit now and then with such work queued).
      await this.gpu.device.queue.onSubmittedWorkDone();
    }
    return this.schedule.schedule;
  }

  /**
   * Which 3×3 stride-1 convs of a graph run as Winograd (and in which form), and which direct
   * variant the others that were measured run: by the autotune, each such conv's direct candidates
   * against its Winograd forms' steps, on trial buffers (freed after) and the conv's own weights
   * (Winograd's made only where measured; the graph built next keeps one form per conv). Without
   * `measure`, none, unless `winograd` names a form.
   */
  private async pickWinograd(direct: GraphSpec, measure: boolean): Promise<{ picks: Map<string, ConvPick>; choices: KernelChoices }> {
    const none = { picks: new Map<string, ConvPick>(), choices: { tuneMs: 0, layers: [] } };
    if (this.winograd === 'never' || (this.winograd === 'measure' && !measure)) return none;
    const ops = new Map(this.ops.map((op) => [op.name, op]));
    const maxBinding = this.gpu.device.limits.maxStorageBufferBindingSize;
    const convs = direct.steps.flatMap((step) => {
      const op = ops.get(step.label);
      // A conv cut to fewer taps (graph.ts's usedTaps: a small map) runs direct: Winograd would compute the padding.
      if (!op || !winogradOp(op) || !(step.program instanceof Conv2dProgram) || step.program.attrs.kernelH * step.program.attrs.kernelW < op.kernel ** 2) return [];
      const x = step.program.input;
      // Measuring, a form whose GEMM does no fewer multiply-adds than a smaller tile's is left out:
      // its transforms cost more too (F(4×4) on a 7×7 map, whose 4 tiles are padded to 16 GEMM rows).
      const forms: { form: WinogradForm; parts: ReturnType<typeof winogradPrograms> }[] = [];
      for (const form of WINOGRAD_FORMS.keys()) {
        const parts = winogradPrograms(op, x, form, winogradGemmVariant(this.kernels));
        const fits = parts[0].outputBytes <= maxBinding && parts[1].outputBytes <= maxBinding;
        const wanted = this.winograd === 'measure' ? forms.every((f) => parts[1].flops < f.parts[1].flops) : this.winograd === form;
        if (fits && wanted) forms.push({ form, parts });
      }
      return forms.length ? [{ op, step, direct: step.program, forms }] : [];
    });
    if (convs.length === 0) return none;
    if (this.winograd !== 'measure') return { ...none, picks: new Map(convs.map(({ op, forms }) => [op.name, forms[0].form])) };
    const { gpu } = this;
    const size = (f: (c: (typeof convs)[number]) => number[]): number => Math.max(...convs.flatMap(f));
    const [x, y, v, m] = [
      size((c) => [nhwc4Bytes(c.direct.input)]),
      size((c) => [c.direct.outputBytes]),
      size((c) => c.forms.map(({ parts }) => parts[0].outputBytes)),
      size((c) => c.forms.map(({ parts }) => parts[1].outputBytes)),
    ].map((bytes, i) => storageBuffer(gpu, bytes, `winograd trial ${['x', 'y', 'v', 'm'][i]}`));
    try {
      const weights = this.weights!;
      const { programs, choices } = await autotune<Candidate>(
        gpu,
        convs.map(({ op, step, direct, forms }) => ({
          label: op.name,
          // Winograd's forms, then the direct kernels (one that loses by over 3× is timed once; a
          // small layer's cannot be sliced: it runs whole).
          candidates: [...forms.map(({ form, parts }) => ({ variant: form, parts, tuneKey: direct.tuneKey })), ...(step.candidates ?? [step.program])],
          bind: (program, pipeline, params) => {
            // A step's candidates are all bound before a round times them (in one submit), so a
            // measured conv holds both forms' weights meanwhile; the graph built next keeps one.
            const form = forms.find(({ parts }) => (parts as Program[]).includes(program));
            const buffers = !form
              ? [x, ...(step.inputs.slice(1) as GPUBuffer[]), y]
              : program === form.parts[0]
                ? [x, v]
                : program === form.parts[1]
                  ? [v, weights.get(`${op.name}.${form.form}`), weights.get(`${op.name}.identity`), m]
                  : [m, weights.get(`${op.name}.scaleBias`), y];
            return bindBuffers(gpu, pipeline, [params, ...buffers], `${op.name} trial`);
          },
        })),
      );
      return { picks: new Map(convs.map(({ op }, i) => [op.name, programs[i].variant as ConvPick])), choices };
    } finally {
      for (const b of [x, y, v, m]) destroyBuffer(gpu, b);
    }
  }

  /** Run a schedule and read back one output; with `gpu.debug`, a WebGPU error in it rejects. */
  private async execute(schedule: Schedule, inputs: Record<string, ArrayBufferView>, output: string, before?: (encoder: GPUCommandEncoder) => void): Promise<Float32Array> {
    const run = (): Promise<Record<string, Float32Array>> => schedule.run(inputs, [output], before);
    if (!this.gpu.debug) return (await run())[output];
    const { value, errors } = withErrorScopes(this.gpu.device, run);
    const [result] = await Promise.all([value, throwGpuErrors(errors, 'running the model')]);
    return result[output];
  }

  private outputName(options: RunOptions): string {
    const output = options?.output ?? 'logits';
    if (output !== 'logits' && output !== 'probabilities') throw new InputError(`options.output must be "logits" or "probabilities", got ${JSON.stringify(output)}`);
    return output === 'probabilities' ? PROBABILITIES : LOGITS;
  }

  private checkInput(input: unknown, shape: unknown): Shape4 {
    if (!(input instanceof Float32Array)) {
      const hint = Array.isArray(input) || ArrayBuffer.isView(input) ? ': convert it with Float32Array.from(input)' : '';
      throw new InputError(`input must be a Float32Array (float32 NCHW), got ${typeName(input)}${hint}`);
    }
    if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new InputError(`input shape must be [N, C, H, W] with positive whole sizes, got ${Array.isArray(shape) ? `[${shape.map(String).join(', ')}]` : typeName(shape)}`);
    }
    const [n, c, h, w] = shape as number[];
    if (c !== this.config.inputChannels) throw new InputError(`input has ${c} channels, ${this.config.arch} expects ${this.config.inputChannels} (shape [N, C, H, W], got [${shape.join(', ')}])`);
    if (input.length !== n * c * h * w) throw new InputError(`input has ${input.length} values, shape [${shape.join(', ')}] needs ${n * c * h * w}`);
    return { n, h, w, c };
  }
}

/**
 * What `load` checks before it touches the GPU: a well-formed config (a shard index's is read as
 * the file gives it), and exactly the tensors that architecture reads, each of its shape, all
 * finite. Returns the layer ops.
 */
export function checkPrepared(prepared: PreparedWeights, source: string): LayerOp[] {
  if (!(prepared?.tensors instanceof Map) || typeof prepared.config !== 'object' || prepared.config === null) {
    throw new WeightsError(source, 'not prepared weights: expected { config, tensors, meta } as openWeights returns them');
  }
  checkConfig(prepared.config, source);
  checkMeta(prepared.meta, prepared.config.numClasses, source);
  const ops = describeResNet(prepared.config);
  checkWeights(prepared.tensors, expectedTensors(ops), prepared.config.arch, source);
  return ops;
}

/** A schedule's key: the input shape it was built for. */
const shapeKey = (s: Shape4): string => `${s.n}x${s.h}x${s.w}x${s.c}`;

/** Most blocks a config may have (ResNet-1001 has 333): bounds the work of describing it. */
const MAX_BLOCKS = 10_000;

function checkConfig(config: ResNetConfig, source: string): void {
  const fail = (field: string, what: string): never => {
    throw new WeightsError(source, `config.${field} ${JSON.stringify((config as unknown as Record<string, unknown>)[field.split(/[.[]/)[0]])} is not ${what}`);
  };
  const count = (v: unknown, min = 1): boolean => Number.isSafeInteger(v) && (v as number) >= min;
  const counts = (v: unknown, min = 1): boolean => Array.isArray(v) && v.every((x) => count(x, min));
  const { arch, block, layers, widths, stemWidth, numClasses, variant, inputChannels, stem, preActivation, shortcut, shortcutPadding, blockStrides, unpaddedStridedConvs } = config;
  if (typeof arch !== 'string') fail('arch', 'a name');
  if (block !== 'basic' && block !== 'bottleneck') fail('block', '"basic" or "bottleneck"');
  if (!counts(layers) || layers.length === 0 || layers.reduce((a, b) => a + b, 0) > MAX_BLOCKS) fail('layers', `a list of block counts (at most ${MAX_BLOCKS} in all)`);
  if (!counts(widths) || widths.length !== layers.length) fail('widths', 'a width for each stage');
  for (const [field, value] of [['stemWidth', stemWidth], ['numClasses', numClasses], ['inputChannels', inputChannels]] as const) if (!count(value)) fail(field, 'a positive whole number');
  if (variant !== 'v1' && variant !== 'v1.5') fail('variant', '"v1" or "v1.5"');
  const convShape = (v: { kernel?: unknown; stride?: unknown; pad?: unknown } | undefined): boolean => typeof v === 'object' && v !== null && count(v.kernel) && count(v.stride) && count(v.pad, 0);
  if (stem !== undefined && !(convShape(stem) && (stem.pool === undefined || convShape(stem.pool)))) fail('stem', 'a { kernel, stride, pad, pool? } of whole numbers');
  if (preActivation !== undefined && typeof preActivation !== 'boolean') fail('preActivation', 'true or false');
  if (shortcut !== undefined && !['projection', 'subsample', 'avgpool'].includes(shortcut)) fail('shortcut', '"projection", "subsample" or "avgpool"');
  if (shortcutPadding !== undefined && shortcutPadding !== 'after' && shortcutPadding !== 'both') fail('shortcutPadding', '"after" or "both"');
  if (blockStrides !== undefined && !(Array.isArray(blockStrides) && blockStrides.length === layers.length && blockStrides.every((s, i) => counts(s) && s.length === layers[i]))) fail('blockStrides', 'a stride for each block');
  if (unpaddedStridedConvs !== undefined && typeof unpaddedStridedConvs !== 'boolean') fail('unpaddedStridedConvs', 'true or false');
}

/** Labels, one a class, and preprocessing that maps pixels to finite inputs (images would otherwise classify as NaN). */
function checkMeta(meta: ModelMeta, classes: number, source: string): void {
  if (typeof meta !== 'object' || meta === null) throw new WeightsError(source, `meta ${JSON.stringify(meta)} is not an object`);
  const { labels, preprocess: p } = meta;
  if (labels !== undefined && !(Array.isArray(labels) && labels.length === classes && labels.every((l) => typeof l === 'string'))) {
    throw new WeightsError(source, `meta.labels must be ${classes} strings, one a class`);
  }
  if (p === undefined) return;
  const size = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;
  const triple = (v: unknown, positive: boolean): boolean => Array.isArray(v) && v.length === 3 && v.every((x) => Number.isFinite(x) && (!positive || x > 0));
  if (typeof p !== 'object' || p === null || !size(p.resize) || !size(p.cropH) || !size(p.cropW) || !triple(p.mean, false) || !triple(p.std, true) || typeof p.grayscale !== 'boolean') {
    throw new WeightsError(source, `meta.preprocess ${JSON.stringify(p)} is not { resize, cropH, cropW (positive sizes), mean, std (three numbers, std positive), grayscale }`);
  }
}

/** Prepared weights hold exactly the tensors the architecture reads, each of its shape, all finite. */
function checkWeights(tensors: TensorMap, expected: Map<string, number[]>, arch: string, source: string): void {
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new WeightsError(source, `missing (expected shape [${shape}])`, name);
    if (!Array.isArray(t.shape) || t.shape.join() !== shape.join()) throw new WeightsError(source, `expected shape [${shape}], got ${JSON.stringify(t.shape)}`, name);
    const count = shape.reduce((a, b) => a * b, 1);
    if (!(t.data instanceof Float32Array) || t.data.length !== count) throw new WeightsError(source, `holds ${t.data?.length} values, shape [${shape}] needs ${count}`, name);
    // A plain loop: findIndex's callback per value costs ~0.13 s over ResNet-50's 25M values.
    const data = t.data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new WeightsError(source, `value ${i} is ${data[i]}: weights must be finite`, name);
    }
  }
  // As for safetensors: a tensor the architecture does not read means the weights are for another model.
  const unexpected = [...tensors.keys()].find((name) => !expected.has(name));
  if (unexpected) throw new WeightsError(source, `unexpected tensor for ${arch}`, unexpected);
}

/**
 * Call `fn` inside validation and out-of-memory error scopes, which close as soon as it returns: an
 * async `fn` runs synchronously up to its first await (for a run, just after the submit). Scopes are
 * per device, shared by every model on it, so none may stay open across an await.
 */
function withErrorScopes<T>(device: GPUDevice, fn: () => T): { value: T; errors: Promise<(GPUError | null)[]> } {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const close = (): Promise<(GPUError | null)[]> => Promise.all([device.popErrorScope(), device.popErrorScope()]);
  let value: T;
  try {
    value = fn();
  } catch (e) {
    // fn's own error is the one to report; the scopes only have to be closed.
    void close();
    throw e;
  }
  return { value, errors: close() };
}

async function throwGpuErrors(errors: Promise<(GPUError | null)[]>, what: string): Promise<void> {
  const [validation, memory] = await errors;
  if (validation) throw new GpuError(`${what}: WebGPU validation error: ${validation.message}`, 'gpu-validation');
  if (memory) throw new GpuError(`${what}: the GPU ran out of memory: ${memory.message}`, 'gpu-out-of-memory');
}

/**
 * What a failure means to the caller. A GPU failure on a device that turns out to be lost is a
 * DeviceLostError; our own errors pass through; anything else (a WebGPU exception) becomes a GpuError.
 */
async function libraryError(e: unknown, device: GPUDevice): Promise<ResnetWebGpuError> {
  const gpuFailure = !(e instanceof ResnetWebGpuError) || e.constructor === GpuError;
  const lost = gpuFailure ? await lostInfo(device) : undefined;
  if (lost) {
    const why = lost.message ? `${lost.reason}: ${lost.message}` : lost.reason;
    return new DeviceLostError(lost.reason, `the GPU device was lost during this call (${why}); the next call makes a new device and uploads the weights again`);
  }
  if (e instanceof ResnetWebGpuError) return e;
  return new GpuError(`WebGPU failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
}
