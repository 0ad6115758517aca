import type { Gpu } from '../runtime/device';
import { InputError, ResnetWebGpuError, WeightsError } from '../runtime/errors';
import { nchwToNhwc4, type Shape4 } from '../runtime/layout';
import { getPipeline } from '../runtime/pipelines';
import { Schedule } from '../runtime/scheduler';
import { buildGraph, GpuWeights, PROBABILITIES } from './graph';
import { checkImage, IMAGENET_PREPROCESS, preprocessImages, type RgbaImage } from './images';
import { describeResNet, expectedTensors, INPUT, LOGITS, type LayerOp, type ResNetConfig } from './resnet';
import { parameterCount, type ModelMeta, type PreparedWeights } from './tensors';

export interface RunOptions {
  /** What to read back: raw logits (default) or softmax probabilities. */
  output?: 'logits' | 'probabilities';
}

export interface MemoryReport {
  weightBytes: number;
  /** Activation buffers after liveness planning, for the last input shape run. */
  activationBytes: number;
  /** What one buffer per activation would need. */
  unplannedActivationBytes: number;
  activationBuffers: number;
}

/**
 * A ResNet on one GPU device. Weights upload and every pipeline compiles at load; a schedule
 * (memory plan, bind groups) is built per input shape and kept until the shape changes. Calls to
 * `run` are queued so concurrent callers never share buffers mid-flight.
 */
export class ResNetModel {
  readonly ops: LayerOp[];
  readonly parameterCount: number;
  private schedule?: { key: string; schedule: Schedule };
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ResNetConfig,
    readonly meta: ModelMeta,
    private readonly weights: GpuWeights,
    ops: LayerOp[],
    parameters: number,
  ) {
    this.ops = ops;
    this.parameterCount = parameters;
  }

  static async load(gpu: Gpu, prepared: PreparedWeights, source = 'weights'): Promise<ResNetModel> {
    const ops = describeResNet(prepared.config);
    const expected = expectedTensors(ops);
    for (const [name, shape] of expected) {
      const t = prepared.tensors.get(name);
      if (!t) throw new WeightsError(source, `missing (expected shape [${shape}])`, name);
      if (t.shape.join() !== shape.join()) throw new WeightsError(source, `expected shape [${shape}], got [${t.shape}]`, name);
    }
    // As for safetensors: a tensor the architecture does not read means the weights are for another model.
    const unexpected = [...prepared.tensors.keys()].find((name) => !expected.has(name));
    if (unexpected) throw new WeightsError(source, `unexpected tensor for ${prepared.config.arch}`, unexpected);
    const weights = new GpuWeights(gpu, ops, prepared.tensors);
    try {
      // Compile every pipeline the model uses now, in parallel: shapes live in uniforms, so a
      // small stand-in input needs the same pipelines as any real one and allocates next to nothing.
      const probe = buildGraph(ops, { n: 1, h: 32, w: 32, c: prepared.config.inputChannels }, weights);
      await Promise.all(probe.steps.map((step) => getPipeline(gpu, step.program)));
    } catch (e) {
      weights.destroy();
      throw e;
    }
    return new ResNetModel(gpu, prepared.config, prepared.meta, weights, ops, parameterCount(prepared.tensors));
  }

  /** Run on a normalised float32 NCHW batch `[N, C, H, W]` (PyTorch's convention); returns `[N, classes]`. */
  run(input: Float32Array, shape: number[], options: RunOptions = {}): Promise<Float32Array> {
    const s = this.checkInput(input, shape);
    return this.runNhwc4(nchwToNhwc4(input, s), s, options);
  }

  /** Run on an input already in the GPU layout (NHWC, channels padded to 4). */
  runNhwc4(input: Float32Array, shape: Shape4, options: RunOptions = {}): Promise<Float32Array> {
    return this.enqueue(async () => {
      const schedule = await this.scheduleFor(shape);
      const output = this.outputName(options);
      return (await schedule.run({ [INPUT]: input }, [output]))[output];
    });
  }

  /** Run jobs one after another: they share the schedule's buffers. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const result = this.queue.then(() => {
      this.assertAlive();
      return job();
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private outputName(options: RunOptions): string {
    return options.output === 'probabilities' ? PROBABILITIES : LOGITS;
  }

  /**
   * Classify decoded images: each is preprocessed on the GPU as the model's config says (ImageNet's
   * transform when it says nothing) and the batch runs in one submit. Returns `[N, classes]`.
   */
  runImages(images: RgbaImage[], options: RunOptions = {}): Promise<Float32Array> {
    if (!Array.isArray(images) || images.length === 0) return Promise.reject(new InputError('runImages needs at least one image'));
    try {
      images.forEach(checkImage);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.config.inputChannels !== 3) return Promise.reject(new InputError(`image input needs a 3-channel model; ${this.config.arch} takes ${this.config.inputChannels}`));
    const pre = this.meta.preprocess ?? IMAGENET_PREPROCESS;
    return this.enqueue(async () => {
      const schedule = await this.scheduleFor({ n: images.length, h: pre.cropH, w: pre.cropW, c: 3 });
      const prep = await preprocessImages(this.gpu, images, pre, schedule.bufferOf(INPUT));
      try {
        const output = this.outputName(options);
        return (await schedule.run({}, [output], prep.encode))[output];
      } finally {
        prep.destroy();
      }
    });
  }

  memory(): MemoryReport {
    const plan = this.schedule?.schedule.memory;
    return {
      weightBytes: this.weights.bytes,
      activationBytes: plan?.totalBytes ?? 0,
      unplannedActivationBytes: plan?.unplannedBytes ?? 0,
      activationBuffers: plan?.slotBytes.length ?? 0,
    };
  }

  /** The schedule for an input shape, built on first use. */
  async scheduleFor(shape: Shape4): Promise<Schedule> {
    const key = `${shape.n}x${shape.h}x${shape.w}x${shape.c}`;
    if (this.schedule?.key !== key) {
      this.schedule?.schedule.destroy();
      this.schedule = undefined;
      this.schedule = { key, schedule: await Schedule.create(this.gpu, buildGraph(this.ops, shape, this.weights)) };
    }
    return this.schedule.schedule;
  }

  /** Free every GPU buffer the model holds; later calls fail. */
  dispose(): void {
    this.disposed = true;
    this.schedule?.schedule.destroy();
    this.schedule = undefined;
    this.weights.destroy();
  }

  private assertAlive(): void {
    if (this.disposed) throw new ResnetWebGpuError('disposed', 'this model was disposed; load it again to run it');
  }

  private checkInput(input: Float32Array, shape: number[]): Shape4 {
    if (!(input instanceof Float32Array)) throw new InputError(`input must be a Float32Array, got ${Object.prototype.toString.call(input)}`);
    if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new InputError(`input shape must be [N, C, H, W] with positive sizes, got [${shape}]`);
    }
    const [n, c, h, w] = shape;
    if (c !== this.config.inputChannels) throw new InputError(`input has ${c} channels, ${this.config.arch} expects ${this.config.inputChannels} (shape [N, C, H, W], got [${shape}])`);
    if (input.length !== n * c * h * w) throw new InputError(`input has ${input.length} values, shape [${shape}] needs ${n * c * h * w}`);
    return { n, h, w, c };
  }
}
