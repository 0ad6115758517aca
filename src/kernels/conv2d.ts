import registerCommon from '../shaders/conv2d_common.wgsl?raw';
import registerTile from '../shaders/conv2d_tile.wgsl?raw';
import registerShader from '../shaders/conv2d.wgsl?raw';
import quadShader from '../shaders/conv2d_quad.wgsl?raw';
import quad2x2Shader from '../shaders/conv2d_quad2x2.wgsl?raw';
import quad4pxShader from '../shaders/conv2d_quad4px.wgsl?raw';
import tiledShader from '../shaders/conv2d_tiled.wgsl?raw';
import ksplitShader from '../shaders/conv2d_ksplit.wgsl?raw';
import type { Gpu } from '../runtime/device';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import type { Kernel } from '../runtime/pipelines';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

export interface Conv2dAttributes {
  outChannels: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  /** top, left, bottom, right */
  pads: [number, number, number, number];
  dilationH: number;
  dilationW: number;
  relu: boolean;
  residual: boolean;
}

/**
 * The convolution kernels, interchangeable (same bindings, same result); the autotune
 * (../runtime/autotune.ts) measures them per adapter and layer shape and keeps the fastest.
 * - `register`: conv2d.wgsl, no workgroup memory or barriers, 16 pixels × 16 channels per
 *   invocation; made for CPU adapters (SwiftShader).
 * - `quad`: conv2d_quad.wgsl, `register` with each quad of invocations sharing its input loads
 *   (quadBroadcast); needs the 'subgroups' feature.
 * - `quad2x2`: conv2d_quad2x2.wgsl, `register` with each quad sharing both its input and its
 *   weight loads in pairs (quadSwapX/Y); needs 'subgroups'. In Chromium's SwiftShader ~15% less
 *   GPU time than `quad` for ResNet-50 (every layer 8–27%).
 * - `quad4px`: conv2d_quad4px.wgsl, a quad per 4 pixels × 64 channels, its input loads shared
 *   (quadBroadcast); needs 'subgroups'. For maps of a few pixels (suitsMap), where `quad2x2`'s
 *   28-pixel tiles are mostly copies of the last pixel: 6× faster on a 2×2 map on SwiftShader.
 * - `ksplit`, `ksplit16`: conv2d_ksplit.wgsl, 16 pixels × 32 (16) channels per workgroup of 256,
 *   K split 8 (16) ways inside it; made for GPUs, where they fill the SMs on small maps (at batch
 *   1 on an H100, `ksplit16` the 14×14 and 7×7 stages, `ksplit` most of the larger ones).
 * - `tiled128`, `tiled64`: conv2d_tiled.wgsl, workgroup-memory tiles of 128 or 64 pixels × 128
 *   channels; made for GPUs' large early-stage maps.
 */
export const CONV_VARIANTS = ['register', 'quad', 'quad2x2', 'quad4px', 'ksplit', 'ksplit16', 'tiled128', 'tiled64'] as const;
export type ConvVariant = (typeof CONV_VARIANTS)[number];
/** The kernels that can run Winograd's GEMM (per-image weights): those on conv2d_common.wgsl. */
export type WinogradGemmVariant = 'register' | 'quad' | 'quad2x2' | 'quad4px' | 'ksplit' | 'ksplit16';

/** Whether the device can run the quad variants (`quad`, `quad2x2`, `quad4px`). */
export const hasSubgroups = (gpu: Gpu): boolean => gpu.device.features.has('subgroups');
export const needsSubgroups = (variant: ConvVariant): boolean => variant === 'quad' || variant === 'quad2x2' || variant === 'quad4px';

/**
 * The variants the autotune measures unless told otherwise (ModelOptions.kernels). On a fallback
 * (CPU) adapter `quad2x2` (and, on small maps only, `quad4px`) where the device has subgroups, else
 * `register`. On SwiftShader the tiled variants measured 2–4× slower than `register` on every
 * ResNet-50 layer (and compiling them took ~0.75 s before the autotune could rule them out);
 * `quad` took ~10% off ResNet-50's GPU time and `quad2x2` ~15% more, faster than `quad` on every
 * layer. On a GPU the ksplit and tiled ones (`ksplit` first: it runs a shape's untuned first run): on an H100
 * `register` lost to them by 4–50× on every layer measured. The quad kernels assume quads of
 * consecutive invocations, which only SwiftShader guarantees.
 */
export function defaultConvVariants(gpu: Gpu): readonly ConvVariant[] {
  if (gpu.adapter.isFallbackAdapter) return hasSubgroups(gpu) ? ['quad2x2', 'quad4px'] : ['register'];
  return ['ksplit', 'ksplit16', 'tiled128', 'tiled64'];
}

/** The kernel Winograd's GEMM runs on, given a model's candidates: the first listed of `quad2x2`, `quad`, `ksplit`, `ksplit16`, else `register`. */
export const winogradGemmVariant = (variants: readonly ConvVariant[]): WinogradGemmVariant => (['quad2x2', 'quad', 'ksplit', 'ksplit16'] as const).find((v) => variants.includes(v)) ?? 'register';
/** Rows of a pixel tile of `variant`: a GEMM with per-image weights (Winograd's) on it needs images of whole tiles. */
export const gemmTileRows = (variant: WinogradGemmVariant): number => TILE[variant][0];
/**
 * The kernel a GEMM with per-image weights of `rowsPerImage` rows runs on, given the variant
 * picked for it: images of 16 rows (small maps: layer3's and layer4's GEMMs) are not whole
 * 28-row quad2x2 tiles and run on quad (padding them to 32 had doubled their work).
 */
export const gemmVariant = (variant: WinogradGemmVariant, rowsPerImage: number): WinogradGemmVariant => (rowsPerImage % gemmTileRows(variant) ? 'quad' : variant);
const isRegister = (variant: ConvVariant): boolean => variant === 'register' || needsSubgroups(variant);
/** The kernels on conv2d_common.wgsl (its Params: per-image weights, folded taps). */
const isCommon = (variant: ConvVariant): variant is WinogradGemmVariant => isRegister(variant) || variant === 'ksplit' || variant === 'ksplit16';

/** Each variant's shader: the main of each kernel on conv2d_common.wgsl joined to it; the tiled ones share one, the tile size an override. */
const KERNELS: Record<ConvVariant, { name: string; shader: string }> = {
  register: { name: 'conv2d', shader: `${registerShader}\n${registerCommon}\n${registerTile}` },
  // The quad kernels' `enable` directive must come first.
  quad: { name: 'conv2d_quad', shader: `${quadShader}\n${registerCommon}\n${registerTile}` },
  quad2x2: { name: 'conv2d_quad2x2', shader: `${quad2x2Shader}\n${registerCommon}\n${registerTile}` },
  quad4px: { name: 'conv2d_quad4px', shader: `${quad4pxShader}\n${registerCommon}\n${registerTile}` },
  ksplit: { name: 'conv2d_ksplit', shader: `${ksplitShader}\n${registerCommon}` },
  ksplit16: { name: 'conv2d_ksplit', shader: `${ksplitShader}\n${registerCommon}` },
  tiled128: { name: 'conv2d_tiled', shader: tiledShader },
  tiled64: { name: 'conv2d_tiled', shader: tiledShader },
};
/** The ksplit kernels' channel tile (vec4) and the tiled ones' pixels per invocation: a pipeline each (GPUs compile in milliseconds). */
const CONSTANTS: Partial<Record<ConvVariant, Record<string, number>>> = { ksplit: { BN4: 8 }, ksplit16: { BN4: 4 }, tiled128: { TM: 8 }, tiled64: { TM: 4 } };

export function convKernel(variant: ConvVariant): Kernel & { variant: ConvVariant } {
  return { variant, constants: CONSTANTS[variant] ?? {}, ...KERNELS[variant] };
}

/** As the register kernels' @workgroup_size (`quad4px`'s: one quad). */
const registerWorkgroupSize = (variant: ConvVariant): number => (variant === 'quad4px' ? 4 : 16);

/** Output pixels × vec4 of output channels of one invocation (register, quad), one quad (quad2x2, quad4px) or one workgroup of 256 (ksplit, tiled), as in the shaders. */
const TILE: Record<ConvVariant, [number, number]> = { register: [16, 4], quad: [16, 4], quad2x2: [28, 8], quad4px: [4, 16], ksplit: [16, 8], ksplit16: [16, 4], tiled128: [128, 32], tiled64: [64, 32] };

/**
 * Whether `variant` is a candidate for a conv with `pixels` output pixels (all images'): `quad4px`
 * only on maps smaller than one `quad2x2` tile, every other variant anywhere. Against `quad2x2` on
 * SwiftShader `quad4px` was ~6× faster on 1–4-pixel maps and 1.8× on 16, but even at 49–64 and
 * 1.5× slower on 14×14 3×3 convs; measured on ResNet-50's 7×7 layer4 too, it lost every shape and
 * added 0.6 s to the tuning.
 */
export const suitsMap = (variant: ConvVariant, pixels: number): boolean => variant !== 'quad4px' || pixels < TILE.quad2x2[0];

export function convOutputSize(input: number, kernel: number, stride: number, padBefore: number, padAfter: number, dilation: number): number {
  return Math.floor((input + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** Inputs: x, packed weights (packConvWeights), packed scale/bias; with `residual`, the output buffer holds the residual on entry (Step.inPlace). */
export class Conv2dProgram implements Program {
  readonly name: string;
  readonly shader: string;
  // ReLU and residual are uniform flags, not override constants: every conv of a variant shares
  // one pipeline, which matters where compiling a pipeline takes seconds (SwiftShader).
  readonly constants: Record<string, number>;
  readonly uniforms: ArrayBuffer;
  /** The layer shape, without the fused ReLU/residual: what the autotune measures per adapter. */
  readonly tuneKey: string;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(
    readonly input: Shape4,
    readonly attrs: Conv2dAttributes,
    readonly variant: ConvVariant = 'register',
    /** Weight blocks per image, for Winograd's GEMM (./winograd.ts; kernels on conv2d_common.wgsl only); 0: a convolution. */
    imageWeights = 0,
  ) {
    if (imageWeights && !isCommon(variant)) throw new Error(`conv2d: per-image weights need a kernel on conv2d_common.wgsl, not ${variant}`);
    if (imageWeights && input.h % TILE[variant][0]) throw new Error(`conv2d: per-image weights on ${variant} need images of whole ${TILE[variant][0]}-pixel tiles, not ${input.h}`);
    ({ name: this.name, shader: this.shader, constants: this.constants } = convKernel(variant));
    const [top, left, bottom, right] = attrs.pads;
    const outH = convOutputSize(input.h, attrs.kernelH, attrs.strideH, top, bottom, attrs.dilationH);
    const outW = convOutputSize(input.w, attrs.kernelW, attrs.strideW, left, right, attrs.dilationW);
    this.output = { n: input.n, h: outH, w: outW, c: attrs.outChannels };
    const outC4 = roundUp4(attrs.outChannels) / 4;
    const inC4 = roundUp4(input.c) / 4;
    // The register kernels read a row's kW taps as one run of kW * inC4 vec4 where none falls in padding
    // (the space-to-depth stem): one K loop, not kW short ones. Its weights are already in that order.
    const foldW = isCommon(variant) && left === 0 && right === 0 && attrs.dilationW === 1;
    // prettier-ignore
    this.uniforms = packUniforms([
      input.n, input.h, input.w, inC4,
      outH, outW, outC4, attrs.kernelH,
      foldW ? 1 : attrs.kernelW, attrs.strideH, attrs.strideW, top,
      left, attrs.dilationH, attrs.dilationW, Number(attrs.relu) | (Number(attrs.residual) << 1),
      // conv2d_common.wgsl's; conv2d_tiled.wgsl's Params end before.
      imageWeights,
      foldW ? attrs.kernelW * inC4 : inC4,
    ]);
    const pixels = input.n * outH * outW;
    const [tileM, tileN4] = TILE[variant];
    const colBlocks = Math.ceil(outC4 / tileN4);
    // `quad` gives each quad of invocations one pixel tile: its channel blocks rounded up to whole quads.
    // A `quad2x2` or `quad4px` tile is a quad's: 4 invocations.
    const tiles = Math.ceil(pixels / tileM) * (variant === 'quad' ? Math.ceil(colBlocks / 4) * 4 : colBlocks) * (variant === 'quad2x2' || variant === 'quad4px' ? 4 : 1);
    // The register kernels run in workgroups of 16 (their shaders' size): SwiftShader deals a dispatch's
    // workgroups out to its threads whole, so a 14×14 conv's 208 invocations in groups of 64 left one
    // of 2 cores idle for a quarter of it; in groups of 16 layer3's 1×1 convs ran ~12% faster.
    this.workgroups = isRegister(variant) ? workgroupsFor(tiles, registerWorkgroupSize(variant)) : workgroupsFor(tiles, 1);
    this.tuneKey = `conv ${input.n}x${input.h}x${input.w}x${input.c} → ${attrs.outChannels} k${attrs.kernelH}x${attrs.kernelW} s${attrs.strideH}x${attrs.strideW} p${attrs.pads.join(',')} d${attrs.dilationH}x${attrs.dilationW}`;
    this.flops = 2 * pixels * attrs.outChannels * attrs.kernelH * attrs.kernelW * input.c;
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}

/**
 * PyTorch/ONNX OIHW weights → the kernel's [kH][kW][inC/4][outC/4] blocks of mat4x4f, padding
 * zero. Column j of a block holds input channel j's weights for the block's 4 output channels,
 * so the shader's `block * x` is 16 multiply-adds from one load of each operand. Filled block by
 * block (each 64 contiguous bytes): a third faster than value by value in OIHW order.
 */
export function packConvWeights(weight: Float32Array, [outC, inC, kH, kW]: number[]): Float32Array {
  const inC4 = roundUp4(inC) / 4;
  const outC4 = roundUp4(outC) / 4;
  const taps = kH * kW;
  const out = new Float32Array(taps * inC4 * outC4 * 16);
  for (let o4 = 0; o4 < outC4; o4++) {
    const outs = Math.min(4, outC - 4 * o4);
    for (let i4 = 0; i4 < inC4; i4++) {
      const ins = Math.min(4, inC - 4 * i4);
      for (let tap = 0; tap < taps; tap++) {
        const block = ((tap * inC4 + i4) * outC4 + o4) * 16;
        for (let o = 0; o < outs; o++) {
          const from = ((4 * o4 + o) * inC + 4 * i4) * taps + tap;
          for (let i = 0; i < ins; i++) out[block + i * 4 + o] = weight[from + i * taps];
        }
      }
    }
  }
  return out;
}
