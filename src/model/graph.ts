import { BatchNormProgram } from '../kernels/batchnorm';
import { Conv2dProgram, CONV_VARIANTS, convOutputSize, packConvWeights, suitsMap, winogradGemmVariant, type Conv2dAttributes, type ConvVariant, type WinogradGemmVariant } from '../kernels/conv2d';
import { fcLanes, FullyConnectedProgram, packFcWeights } from '../kernels/fully-connected';
import { PadChannelsProgram } from '../kernels/pad-channels';
import { globalPool, PoolProgram } from '../kernels/pool';
import { SoftmaxProgram } from '../kernels/softmax';
import { winogradApplies, winogradGemm, WinogradInputProgram, WinogradOutputProgram, winogradTiles, WinogradWeightsProgram, type WinogradTile } from '../kernels/winograd';
import { SpaceToDepthProgram, spaceToDepthWeights, useSpaceToDepth } from '../kernels/space-to-depth';
import { bindBuffers, destroyBuffer, storageBuffer, uniformBuffer, uploadBuffer } from '../runtime/buffers';
import { getPipeline } from '../runtime/pipelines';
import type { Gpu } from '../runtime/device';
import { nhwc4Bytes, packScaleBias, type Shape4 } from '../runtime/layout';
import type { Program } from '../runtime/program';
import type { GraphSpec, Step } from '../runtime/scheduler';
import { INPUT, LOGITS, type ConvOp, type LayerOp } from './resnet';
import type { TensorMap } from './tensors';

export const PROBABILITIES = 'probabilities';

/**
 * Weights on the GPU in the kernels' layouts, keyed `${layer}.weight`, `${layer}.scaleBias`,
 * `${layer}.bias`, `${layer}.winograd2` / `.winograd4` (a 3×3 conv's Winograd weights for each
 * form, ../kernels/winograd.ts) and `${layer}.weight[rows, columns]` (a conv's cut to the taps it
 * uses on a small map, `direct`).
 * All but the Winograd and cut weights upload at construction; Winograd's are made on the GPU from
 * the conv's 3×3 weights when first asked for (once `ready`), cut ones packed from the host's.
 * Any buffer released is made again when next asked for, so a conv holds on the GPU only the form
 * its schedule runs.
 */
export class GpuWeights {
  private readonly buffers = new Map<string, GPUBuffer>();
  private readonly makers = new Map<string, () => GPUBuffer>();
  private transform?: GPUComputePipeline;
  /** Resolves once Winograd weights can be made: their transform's pipeline is compiled. */
  readonly ready: Promise<void>;
  /** Bound where a kernel's optional input is absent (bindings cannot be left empty). */
  readonly placeholder: GPUBuffer;
  bytes = 0;

  constructor(
    readonly gpu: Gpu,
    ops: LayerOp[],
    private readonly tensors: TensorMap,
  ) {
    // One pipeline for every shape and form (both are uniforms): any instance names it.
    this.ready = getPipeline(gpu, new WinogradWeightsProgram(4, 4, 2)).then((pipeline) => void (this.transform = pipeline));
    this.ready.catch(() => undefined); // awaited by the model, unless the upload fails first
    this.placeholder = uploadBuffer(gpu, new Float32Array(4), 'placeholder');
    this.register(ops, tensors);
    try {
      for (const name of this.makers.keys()) if (![...WINOGRAD_FORMS.keys()].some((form) => name.endsWith(`.${form}`))) this.get(name);
    } catch (e) {
      // A tensor past the device's buffer limits throws (../runtime/buffers): free what came before it.
      this.destroy();
      throw e;
    }
  }

  private register(ops: LayerOp[], tensors: TensorMap): void {
    const put = (name: string, pack: () => Float32Array): void => void this.makers.set(name, () => uploadBuffer(this.gpu, pack(), name));
    for (const op of ops) {
      if (op.op === 'conv') {
        const w = tensors.get(`${op.name}.weight`)!;
        put(`${op.name}.weight`, () => {
          const { data, shape } = stackedStem(op) ? spaceToDepthWeights(w.data, w.shape) : w;
          return packConvWeights(data, shape);
        });
        if (winogradOp(op)) for (const [form, m] of WINOGRAD_FORMS) this.makers.set(`${op.name}.${form}`, () => this.transformed(op, m, `${op.name}.${form}`));
        put(`${op.name}.scaleBias`, () => packScaleBias(tensors.get(`${op.name}.scale`)!.data, tensors.get(`${op.name}.bias`)!.data));
      } else if (op.op === 'linear') {
        const w = tensors.get(`${op.name}.weight`)!;
        put(`${op.name}.weight`, () => packFcWeights(w.data, w.shape));
        put(`${op.name}.bias`, () => tensors.get(`${op.name}.bias`)!.data);
      } else if (op.op === 'batchnorm') {
        put(`${op.name}.scaleBias`, () => packScaleBias(tensors.get(`${op.name}.scale`)!.data, tensors.get(`${op.name}.bias`)!.data));
      }
      // Scale 1, bias 0: for a sum that may need padding first (added by the batchnorm kernel as
      // x·1 + 0 + residual), and for a Winograd GEMM (its epilogue runs after the output transform).
      if (op.op === 'conv' && (op.padToResidual || winogradOp(op))) put(`${op.name}.identity`, () => packScaleBias(new Float32Array(op.outChannels).fill(1), new Float32Array(op.outChannels)));
    }
  }

  /** A weight buffer, made now if it was released (or, for Winograd weights, never asked for). */
  get(name: string): GPUBuffer {
    let b = this.buffers.get(name);
    if (!b) {
      const make = this.makers.get(name);
      if (!make) throw new Error(`no GPU weights for ${name}`);
      b = make();
      this.buffers.set(name, b);
      this.bytes += b.size;
    }
    return b;
  }

  /**
   * A conv's Winograd weights in one form, transformed on the GPU from its packed 3×3 weights
   * (uploaded again for the purpose if they were released). Packed in script and uploaded (up to
   * 4× the 3×3 weights' bytes), ResNet-50's forms took ~0.2 s more of its first result on a 2-core
   * CPU adapter, where the GPU pass runs on both cores beside the script.
   */
  private transformed(op: ConvOp, m: WinogradTile, name: string): GPUBuffer {
    if (!this.transform) throw new Error(`GpuWeights: ${name} asked for before the weights are ready`);
    const source = `${op.name}.weight`;
    const held = this.buffers.has(source);
    const program = new WinogradWeightsProgram(op.inChannels, op.outChannels, m);
    const u = storageBuffer(this.gpu, program.outputBytes, name);
    const params = uniformBuffer(this.gpu, program.uniforms, `${name} params`);
    const encoder = this.gpu.device.createCommandEncoder({ label: name });
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.transform);
    pass.setBindGroup(0, bindBuffers(this.gpu, this.transform, [params, this.get(source), u], name));
    pass.dispatchWorkgroups(...program.workgroups);
    pass.end();
    this.gpu.device.queue.submit([encoder.finish()]);
    // Destroyed buffers stay alive until the work submitted with them is done.
    destroyBuffer(this.gpu, params);
    if (!held) this.release(source);
    return u;
  }

  /**
   * A conv's weights for a direct kernel: whole, or cut to a window of its taps (usedTaps) and
   * packed as a kernel of that size. The conv's other forms (whole or cut, Winograd's) are released.
   */
  direct(conv: string, taps?: TapWindow): GPUBuffer {
    const whole = `${conv}.weight`;
    const name = taps ? this.cut(conv, taps) : whole;
    const b = this.get(name);
    this.releaseForms(conv, name);
    if (taps) this.release(whole);
    return b;
  }

  /** The name of a conv's weights cut to `taps`, their maker registered. */
  private cut(conv: string, [top, bottom, left, right]: TapWindow): string {
    const name = `${conv}.weight[${top}:${bottom + 1}, ${left}:${right + 1}]`;
    if (!this.makers.has(name)) {
      const { data, shape } = this.tensors.get(`${conv}.weight`)!;
      const [outC, inC, kH, kW] = shape;
      const [h, w] = [bottom - top + 1, right - left + 1];
      const cut = new Float32Array(outC * inC * h * w);
      for (let oi = 0; oi < outC * inC; oi++) {
        for (let y = 0; y < h; y++) cut.set(data.subarray((oi * kH + top + y) * kW + left, (oi * kH + top + y) * kW + left + w), (oi * h + y) * w);
      }
      this.makers.set(name, () => uploadBuffer(this.gpu, packConvWeights(cut, [outC, inC, h, w]), name));
    }
    return name;
  }

  /** Free a buffer the schedule does not bind (a conv's other form); `get` brings it back. */
  release(name: string): void {
    const b = this.buffers.get(name);
    if (!b) return;
    this.bytes -= b.size;
    destroyBuffer(this.gpu, b);
    this.buffers.delete(name);
  }

  /** Free a conv's weights in every form but its direct whole ones and `keep`: Winograd's and cut ones (`direct`). */
  releaseForms(conv: string, keep?: string): void {
    const forms = [...WINOGRAD_FORMS.keys()].map((form) => `${conv}.${form}`);
    for (const name of [...this.buffers.keys()]) if (name !== keep && (forms.includes(name) || name.startsWith(`${conv}.weight[`))) this.release(name);
  }

  destroy(): void {
    for (const b of [...this.buffers.values(), this.placeholder]) destroyBuffer(this.gpu, b);
    this.buffers.clear();
  }
}

/** The Winograd forms of a 3×3 stride-1 conv, by output tile (../kernels/winograd.ts): F(2×2, 3×3) and F(4×4, 3×3). */
export const WINOGRAD_FORMS = new Map<WinogradForm, WinogradTile>([
  ['winograd2', 2],
  ['winograd4', 4],
]);
export type WinogradForm = 'winograd2' | 'winograd4';
const isWinogradForm = (pick: ConvPick | undefined): pick is WinogradForm => WINOGRAD_FORMS.has(pick as WinogradForm);
/** A conv's variant chosen ahead of the schedule: a direct conv2d variant, or a Winograd form's three steps. */
export type ConvPick = ConvVariant | WinogradForm;

/**
 * Compile layer ops for one input shape: each op becomes one kernel dispatch with its shapes in
 * uniforms. Ends with a softmax over the logits, run always (it is tiny) and read back on request.
 * Convolutions carry every variant in `convVariants` as candidates for the autotune, except those
 * `picks` decides (by name); a conv picked a Winograd form becomes three steps, and a conv on a map
 * smaller than its kernel's reach runs cut to the taps it uses (usedTaps). Of a conv's weight forms
 * (whole, cut, Winograd's), those its steps do not bind are released.
 */
export function buildGraph(ops: LayerOp[], input: Shape4, weights: GpuWeights, convVariants: readonly ConvVariant[] = CONV_VARIANTS, picks: ReadonlyMap<string, ConvPick> = new Map()): GraphSpec {
  useWinogradForms(ops, weights, picks);
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
          const pick = picks.get(op.name);
          if (isWinogradForm(pick)) {
            for (const s of winogradSteps(op, x, weights, pick, winogradGemmVariant(convVariants))) {
              steps.push(s);
              shapes.set(s.output, s.program.output);
              tensorBytes.set(s.output, s.program.outputBytes);
            }
            continue;
          }
          const attrs = convAttributes(op, op.relu, op.residual !== undefined);
          const taps = usedTaps(x, attrs);
          step = convStep(op, x, taps ? cutAttributes(attrs, taps) : attrs, op.output, weights, pick ? [pick] : convVariants, op.input, weights.direct(op.name, taps));
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
        program = new FullyConnectedProgram(x.n, op.inFeatures, op.outFeatures, fcLanes(weights.gpu));
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
 * The programs of a model's graph with every conv on `convVariant` and, where a form is given,
 * every 3×3 stride-1 conv as Winograd in it: to compile its pipelines before its weights are on
 * the GPU. Shapes live in uniforms, so a small stand-in input needs the same pipelines as any real
 * one. The graph is built without weights (its steps are never run), so weight inputs stay unbound.
 */
export function graphPrograms(gpu: Gpu, ops: LayerOp[], inputChannels: number, convVariant: ConvVariant, form?: WinogradForm): Program[] {
  const unbound = { gpu, get: () => undefined, direct: () => undefined, release: () => undefined, releaseForms: () => undefined, placeholder: undefined } as unknown as GpuWeights;
  const input = { n: 1, h: 32, w: 32, c: inputChannels };
  const picks = new Map(form ? ops.filter(winogradOp).map((op) => [op.name, form]) : []);
  const programs = buildGraph(ops, input, unbound, [convVariant], picks).steps.map((step) => step.program);
  return [...new Map(programs.map((p) => [p.name + JSON.stringify(p.constants), p])).values()];
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

/** A conv op's step, with one candidate program per variant that suits its map (suitsMap) for the autotune. */
function convStep(
  op: ConvOp,
  x: Shape4,
  attrs: Conv2dAttributes,
  output: string,
  weights: GpuWeights,
  variants: readonly ConvVariant[],
  input = op.input,
  weight = weights.get(`${op.name}.weight`),
): Step & { program: Conv2dProgram } {
  const all = variants.map((variant) => new Conv2dProgram(x, attrs, variant));
  const suiting = all.filter((c) => suitsMap(c.variant, c.output.n * c.output.h * c.output.w));
  const candidates = suiting.length ? suiting : all;
  return {
    label: op.name,
    program: candidates[0],
    candidates: candidates.length > 1 ? candidates : undefined,
    inputs: [input, weight, weights.get(`${op.name}.scaleBias`)],
    output,
  };
}

/** A kernel's first and last tap rows, then columns, that a conv uses: [top, bottom, left, right]. */
export type TapWindow = [number, number, number, number];

/**
 * The taps of a conv that reach its input for some output pixel, where some do not: on a map
 * smaller than the kernel's reach (a 3×3 conv on a 1×1 map: layer4's at a 28–32 px input), the
 * others read only padding, and a kernel cut to the rest skips them (9 taps to 1). Undefined where
 * every tap is used, or where the cut kernel would need negative padding.
 */
export function usedTaps(x: Shape4, attrs: Conv2dAttributes): TapWindow | undefined {
  const [padTop, padLeft, padBottom, padRight] = attrs.pads;
  const axis = (size: number, kernel: number, stride: number, before: number, after: number, dilation: number): [number, number] | undefined => {
    const out = convOutputSize(size, kernel, stride, before, after, dilation);
    // Tap k reads rows o·stride − before + k·dilation, o < out: used if one lies in [0, size).
    const used = Array.from({ length: kernel }, (_, k) => k).filter((k) => {
      const first = k * dilation - before;
      const o = Math.max(0, Math.ceil(-first / stride));
      return o < out && first + o * stride < size;
    });
    const [a, b] = [used[0], used[used.length - 1]];
    if (a === undefined || (a === 0 && b === kernel - 1)) return undefined;
    return before - a * dilation >= 0 && after - (kernel - 1 - b) * dilation >= 0 ? [a, b] : undefined;
  };
  const rows = axis(x.h, attrs.kernelH, attrs.strideH, padTop, padBottom, attrs.dilationH) ?? [0, attrs.kernelH - 1];
  const cols = axis(x.w, attrs.kernelW, attrs.strideW, padLeft, padRight, attrs.dilationW) ?? [0, attrs.kernelW - 1];
  return rows[1] - rows[0] < attrs.kernelH - 1 || cols[1] - cols[0] < attrs.kernelW - 1 ? [...rows, ...cols] : undefined;
}

/** A conv's attributes with its kernel cut to `taps`: padding shrinks by the taps cut, so every output pixel reads what it did. */
function cutAttributes(attrs: Conv2dAttributes, [top, bottom, left, right]: TapWindow): Conv2dAttributes {
  const [padTop, padLeft, padBottom, padRight] = attrs.pads;
  return {
    ...attrs,
    kernelH: bottom - top + 1,
    kernelW: right - left + 1,
    pads: [padTop - top * attrs.dilationH, padLeft - left * attrs.dilationW, padBottom - (attrs.kernelH - 1 - bottom) * attrs.dilationH, padRight - (attrs.kernelW - 1 - right) * attrs.dilationW],
  };
}

/** A conv that may run as Winograd F(m×m, 3×3): 3×3, stride 1, pad 1, its output the same size as its input. */
export const winogradOp = (op: LayerOp): op is ConvOp => op.op === 'conv' && !op.padToResidual && !stackedStem(op) && winogradApplies(convAttributes(op, op.relu, false));

/** A conv's three Winograd programs (../kernels/winograd.ts): input transform, GEMM (on `gemm`), output transform with the conv's epilogue. */
export function winogradPrograms(op: ConvOp, x: Shape4, form: WinogradForm, gemm: WinogradGemmVariant): [WinogradInputProgram, Conv2dProgram, WinogradOutputProgram] {
  const t = winogradTiles(x, WINOGRAD_FORMS.get(form)!, gemm);
  return [new WinogradInputProgram(x, t), winogradGemm(x, op.outChannels, t, gemm), new WinogradOutputProgram(x, op.outChannels, op.relu, op.residual !== undefined, t)];
}

/**
 * Of each 3×3 stride-1 conv's weight forms, hold only the one the graph binds: a conv picked a
 * Winograd form keeps that form alone, any other conv its direct weights alone. A form is made from
 * the direct weights (GpuWeights.transformed), so both are held for a moment: taken largest conv
 * first, each transient is more than covered by what the smaller convs after it have yet to add
 * (a form outweighs the 3×3 weights it replaces), and the weights never hold more than their final
 * size plus the smallest such conv's 3×3 weights. In run order, ResNet-50's peak took its last
 * layer4 conv's 9 MiB on top.
 */
function useWinogradForms(ops: LayerOp[], weights: GpuWeights, picks: ReadonlyMap<string, ConvPick>): void {
  const convs = ops.filter(winogradOp);
  for (const op of convs) if (!isWinogradForm(picks.get(op.name))) weights.releaseForms(op.name);
  const picked = convs.filter((op) => isWinogradForm(picks.get(op.name)));
  for (const op of picked.sort((a, b) => b.inChannels * b.outChannels - a.inChannels * a.outChannels)) {
    const form = picks.get(op.name) as WinogradForm;
    weights.get(`${op.name}.${form}`);
    weights.release(`${op.name}.weight`);
    weights.releaseForms(op.name, `${op.name}.${form}`);
  }
}

/** A conv's three Winograd steps in one form (held alone by useWinogradForms). */
function winogradSteps(op: ConvOp, x: Shape4, weights: GpuWeights, form: WinogradForm, gemmVariant: WinogradGemmVariant): (Step & { program: Program & { output: Shape4; outputBytes: number } })[] {
  const [input, gemm, output] = winogradPrograms(op, x, form, gemmVariant);
  const [v, m] = [`${op.name}.winograd_v`, `${op.name}.winograd_m`];
  return [
    { label: `${op.name}.winograd_input`, program: input, inputs: [op.input], output: v },
    { label: `${op.name}.winograd_gemm`, program: gemm, inputs: [v, weights.get(`${op.name}.${form}`), weights.get(`${op.name}.identity`)], output: m },
    { label: op.name, program: output, inputs: [m, weights.get(`${op.name}.scaleBias`)], output: op.output, inPlace: op.residual },
  ];
}
