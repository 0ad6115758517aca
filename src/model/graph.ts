import { BatchNormProgram } from '../kernels/batchnorm';
import { Conv2dProgram, CONV_VARIANTS, convOutputSize, packConvWeights, type Conv2dAttributes, type ConvVariant } from '../kernels/conv2d';
import { FullyConnectedProgram, packFcWeights } from '../kernels/fully-connected';
import { PadChannelsProgram } from '../kernels/pad-channels';
import { globalPool, PoolProgram } from '../kernels/pool';
import { SoftmaxProgram } from '../kernels/softmax';
import { SpaceToDepthProgram, spaceToDepthWeights, useSpaceToDepth } from '../kernels/space-to-depth';
import { destroyBuffer, uploadBuffer } from '../runtime/buffers';
import type { Gpu } from '../runtime/device';
import { nhwc4Bytes, packScaleBias, type Shape4 } from '../runtime/layout';
import type { Program } from '../runtime/program';
import type { GraphSpec, Step } from '../runtime/scheduler';
import { INPUT, LOGITS, type ConvOp, type LayerOp } from './resnet';
import type { TensorMap } from './tensors';

export const PROBABILITIES = 'probabilities';

/** Weights on the GPU in the kernels' layouts, keyed `${layer}.weight`, `${layer}.scaleBias`, `${layer}.bias`. */
export class GpuWeights {
  readonly buffers = new Map<string, GPUBuffer>();
  /** Bound where a kernel's optional input is absent (bindings cannot be left empty). */
  readonly placeholder: GPUBuffer;
  bytes = 0;

  constructor(
    private readonly gpu: Gpu,
    ops: LayerOp[],
    tensors: TensorMap,
  ) {
    const put = (name: string, data: Float32Array): void => {
      this.buffers.set(name, uploadBuffer(gpu, data, name));
      this.bytes += data.byteLength;
    };
    this.placeholder = uploadBuffer(gpu, new Float32Array(4), 'placeholder');
    try {
      this.upload(ops, tensors, put);
    } catch (e) {
      // A tensor past the device's buffer limits throws (../runtime/buffers): free what came before it.
      this.destroy();
      throw e;
    }
  }

  private upload(ops: LayerOp[], tensors: TensorMap, put: (name: string, data: Float32Array) => void): void {
    for (const op of ops) {
      if (op.op === 'conv') {
        const w = tensors.get(`${op.name}.weight`)!;
        const { data, shape } = stackedStem(op) ? spaceToDepthWeights(w.data, w.shape) : w;
        put(`${op.name}.weight`, packConvWeights(data, shape));
        put(`${op.name}.scaleBias`, packScaleBias(tensors.get(`${op.name}.scale`)!.data, tensors.get(`${op.name}.bias`)!.data));
      } else if (op.op === 'linear') {
        const w = tensors.get(`${op.name}.weight`)!;
        put(`${op.name}.weight`, packFcWeights(w.data, w.shape));
        put(`${op.name}.bias`, tensors.get(`${op.name}.bias`)!.data);
      } else if (op.op === 'batchnorm') {
        put(`${op.name}.scaleBias`, packScaleBias(tensors.get(`${op.name}.scale`)!.data, tensors.get(`${op.name}.bias`)!.data));
      }
      // A sum that may need padding first is added by the batchnorm kernel as x·1 + 0 + residual.
      if (op.op === 'conv' && op.padToResidual) put(`${op.name}.identity`, packScaleBias(new Float32Array(op.outChannels).fill(1), new Float32Array(op.outChannels)));
    }
  }

  get(name: string): GPUBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`no GPU weights for ${name}`);
    return b;
  }

  destroy(): void {
    for (const b of [...this.buffers.values(), this.placeholder]) destroyBuffer(this.gpu, b);
    this.buffers.clear();
  }
}

/**
 * Compile layer ops for one input shape: each op becomes one kernel dispatch with its shapes in
 * uniforms. Ends with a softmax over the logits, run always (it is tiny) and read back on request.
 * Convolutions carry every variant in `convVariants` as candidates for the autotune.
 */
export function buildGraph(ops: LayerOp[], input: Shape4, weights: GpuWeights, convVariants: readonly ConvVariant[] = CONV_VARIANTS): GraphSpec {
  const shapes = new Map<string, Shape4>([[INPUT, input]]);
  const tensorBytes = new Map<string, number>([[INPUT, nhwc4Bytes(input)]]);
  const steps: Step[] = [];
  const shapeOf = (t: string): Shape4 => shapes.get(t)!;
  for (const op of ops) {
    const x = shapeOf(op.input);
    if (op.op === 'conv' && op.padToResidual) {
      const sum = padToResidual(op, x, shapeOf(op.residual!), weights, convVariants);
      for (const step of sum.steps) steps.push(step);
      for (const [name, shape] of sum.shapes) {
        shapes.set(name, shape);
        tensorBytes.set(name, nhwc4Bytes(shape));
      }
      continue;
    }
    let program;
    let inputs: (string | GPUBuffer)[];
    let out: Shape4;
    switch (op.op) {
      case 'conv': {
        let step;
        if (stackedStem(op)) {
          const outH = convOutputSize(x.h, op.kernel, op.stride, op.pad, op.pad, 1);
          const outW = convOutputSize(x.w, op.kernel, op.stride, op.pad, op.pad, 1);
          const stack = new SpaceToDepthProgram(x, op.kernel, op.pad, outH, outW);
          const stacked = `${op.name}.stacked`;
          steps.push({ label: stacked, program: stack, inputs: [op.input], output: stacked });
          shapes.set(stacked, stack.output);
          tensorBytes.set(stacked, stack.outputBytes);
          const half = Math.ceil(op.kernel / 2);
          const attrs = { ...convAttributes(op, op.relu, false), kernelH: half, kernelW: half, strideH: 1, strideW: 1, pads: [0, 0, 0, 0] as Conv2dAttributes['pads'] };
          step = convStep(op, stack.output, attrs, op.output, weights, convVariants, stacked);
        } else {
          step = convStep(op, x, convAttributes(op, op.relu, op.residual !== undefined), op.output, weights, convVariants);
        }
        steps.push({ ...step, inPlace: op.residual });
        shapes.set(op.output, step.program.output);
        tensorBytes.set(op.output, step.program.outputBytes);
        continue;
      }
      case 'batchnorm':
        program = new BatchNormProgram(x, { relu: op.relu, residual: false });
        inputs = [op.input, weights.get(`${op.name}.scaleBias`), weights.placeholder];
        out = program.output;
        break;
      case 'padchannels':
        program = new PadChannelsProgram(x, op.outChannels, op.stride, op.offset);
        inputs = [op.input];
        out = program.output;
        break;
      case 'maxpool':
      case 'avgpool': {
        const p = op.pad;
        program = new PoolProgram(x, {
          kind: op.op === 'maxpool' ? 'max' : 'avg',
          kernelH: op.kernel,
          kernelW: op.kernel,
          strideH: op.stride,
          strideW: op.stride,
          pads: [p, p, p, p],
          ceilMode: false,
          countIncludePad: true,
        });
        inputs = [op.input];
        out = program.output;
        break;
      }
      case 'globalavgpool':
        program = new PoolProgram(x, globalPool('avg', x));
        inputs = [op.input];
        out = program.output;
        break;
      case 'linear':
        program = new FullyConnectedProgram(x.n, op.inFeatures, op.outFeatures);
        inputs = [op.input, weights.get(`${op.name}.weight`), weights.get(`${op.name}.bias`)];
        out = { n: x.n, h: 1, w: 1, c: op.outFeatures };
        tensorBytes.set(op.output, program.outputBytes);
        break;
    }
    shapes.set(op.output, out);
    if (!tensorBytes.has(op.output)) tensorBytes.set(op.output, nhwc4Bytes(out));
    steps.push({ label: op.name, program, inputs, output: op.output });
  }
  const logits = shapeOf(LOGITS);
  const softmax = new SoftmaxProgram(logits.n, logits.c);
  steps.push({ label: 'softmax', program: softmax, inputs: [LOGITS], output: PROBABILITIES });
  tensorBytes.set(PROBABILITIES, softmax.outputBytes);
  return { steps: shortcutsLate(steps), tensorBytes, inputs: [INPUT], outputs: [LOGITS, PROBABILITIES] };
}

/**
 * The programs of a model's graph, to compile its pipelines before its weights are on the GPU:
 * shapes live in uniforms, so a small stand-in input needs the same pipelines as any real one.
 * The graph is built without weights (its steps are never run), so weight inputs stay unbound.
 */
export function graphPrograms(ops: LayerOp[], inputChannels: number, convVariants: readonly ConvVariant[]): Program[] {
  const unbound = { get: () => undefined, placeholder: undefined } as unknown as GpuWeights;
  return buildGraph(ops, { n: 1, h: 32, w: 32, c: inputChannels }, unbound, convVariants).steps.map((step) => step.program);
}

/**
 * Hold back each shortcut step (its output is read only as a later step's in-place residual) until
 * just before that step: the main branch's first convs then run before the shortcut's (often the
 * larger) output exists, which lowers the peak of live activations. The planner rejects any order
 * in which a held-back step would read a tensor already overwritten.
 */
function shortcutsLate(steps: Step[]): Step[] {
  const reads = new Map<string, number>();
  for (const step of steps) for (const t of [...step.inputs, step.inPlace]) if (typeof t === 'string') reads.set(t, (reads.get(t) ?? 0) + 1);
  const residuals = new Set(steps.map((s) => s.inPlace));
  const held = new Map<string, Step>();
  const ordered: Step[] = [];
  for (const step of steps) {
    if (residuals.has(step.output) && reads.get(step.output) === 1) {
      held.set(step.output, step);
      continue;
    }
    const shortcut = step.inPlace && held.get(step.inPlace);
    if (shortcut) ordered.push(shortcut);
    ordered.push(step);
  }
  return ordered;
}

const convAttributes = (op: ConvOp, relu: boolean, residual: boolean): Conv2dAttributes => ({
  outChannels: op.outChannels,
  kernelH: op.kernel,
  kernelW: op.kernel,
  strideH: op.stride,
  strideW: op.stride,
  pads: [op.pad, op.pad, op.pad, op.pad],
  dilationH: 1,
  dilationW: 1,
  relu,
  residual,
});

/**
 * A block's last convolution whose output may be smaller than its shortcut (dlib's unpadded
 * strided convolutions): where the shapes agree, the usual fused conv + residual + ReLU; otherwise
 * the conv alone, zero rows/columns appended bottom/right (an average pool of 1×1 windows over the
 * padded input), and the sum + ReLU in the batchnorm kernel with scale 1, bias 0.
 */
function padToResidual(op: ConvOp, x: Shape4, residual: Shape4, weights: GpuWeights, variants: readonly ConvVariant[]): { steps: Step[]; shapes: [string, Shape4][] } {
  const fused = convStep(op, x, convAttributes(op, op.relu, true), op.output, weights, variants);
  const y = fused.program.output;
  if (y.h === residual.h && y.w === residual.w) return { steps: [{ ...fused, inPlace: op.residual }], shapes: [[op.output, y]] };
  if (y.h > residual.h || y.w > residual.w || y.c !== residual.c) {
    throw new Error(`${op.name}: output ${y.h}x${y.w}x${y.c} cannot be padded to its shortcut's ${residual.h}x${residual.w}x${residual.c}`);
  }
  const [unpadded, padded] = [`${op.name}.unpadded`, `${op.name}.padded`];
  const conv = convStep(op, x, convAttributes(op, false, false), unpadded, weights, variants);
  const pad = new PoolProgram(y, { kind: 'avg', kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, pads: [0, 0, residual.h - y.h, residual.w - y.w], ceilMode: false, countIncludePad: true });
  const add = new BatchNormProgram(pad.output, { relu: op.relu, residual: true });
  return {
    steps: [
      conv,
      { label: `${op.name}.pad`, program: pad, inputs: [unpadded], output: padded },
      { label: `${op.name}.add`, program: add, inputs: [padded, weights.get(`${op.name}.identity`), op.residual!], output: op.output },
    ],
    shapes: [
      [unpadded, y],
      [padded, pad.output],
      [op.output, add.output],
    ],
  };
}

/** A stem conv that runs as a stride-1 conv over its input's stacked 2×2 pixel blocks (see ../kernels/space-to-depth.ts); its weights are uploaded rearranged. */
const stackedStem = (op: ConvOp): boolean => op.residual === undefined && useSpaceToDepth(op.kernel, op.stride, op.inChannels);

/** A conv op's step, with one candidate program per variant for the autotune. */
function convStep(op: ConvOp, x: Shape4, attrs: Conv2dAttributes, output: string, weights: GpuWeights, variants: readonly ConvVariant[], input = op.input): Step & { program: Conv2dProgram } {
  const candidates = variants.map((variant) => new Conv2dProgram(x, attrs, variant));
  return {
    label: op.name,
    program: candidates[0],
    candidates: candidates.length > 1 ? candidates : undefined,
    inputs: [input, weights.get(`${op.name}.weight`), weights.get(`${op.name}.scaleBias`)],
    output,
  };
}
