import inputShader from '../shaders/winograd_input.wgsl?raw';
import outputShader from '../shaders/winograd_output.wgsl?raw';
import weightsShader from '../shaders/winograd_weights.wgsl?raw';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';
import { Conv2dProgram, gemmTileRows, gemmVariant, type Conv2dAttributes, type WinogradGemmVariant } from './conv2d';

/**
 * Winograd F(m×m, 3×3) (Lavin & Gray, 2016) for 3×3 convolutions of stride 1 and pad 1, with
 * output tiles of m = 2 or 4: each m×m block ("tile") of outputs comes from its (m+2)×(m+2) input
 * patch with (m+2)² multiplies per input/output channel pair instead of 9m² (16 against 36 for
 * m = 2, 36 against 144 for m = 4). Three dispatches:
 * 1. WinogradInputProgram: V = Bᵀ d B per tile and channel: (m+2)² matrices V[ξ], tiles × inC.
 * 2. winogradGemm: M[ξ] = V[ξ] · U[ξ] for each ξ, the register conv kernel run as a 1×1
 *    convolution over (m+2)² "images" of `tilesPad` rows whose weights switch per image. U = G g Gᵀ
 *    is made on the GPU from the packed 3×3 weights when a schedule first runs the layer so
 *    (WinogradWeightsProgram), (m+2)²/9 their size; the 3×3 weights are then released.
 * 3. WinogradOutputProgram: y = Aᵀ M A per tile, then the conv's epilogue (folded BatchNorm,
 *    residual, ReLU).
 * The larger tile saves more multiplies but transforms with larger constants (less accurate in
 * float32), pads small maps to whole tiles and holds weights 4× the 3×3 ones. Which form a layer
 * runs, or one direct convolution, is measured per adapter and shape (the autotune, from
 * ResNetModel's pickWinograd); on GPUs the GEMM lacks the tiled variants.
 */
export type WinogradTile = 2 | 4;

export function winogradApplies(attrs: Conv2dAttributes): boolean {
  const { kernelH, kernelW, strideH, strideW, pads, dilationH, dilationW } = attrs;
  return kernelH === 3 && kernelW === 3 && strideH === 1 && strideW === 1 && dilationH === 1 && dilationW === 1 && pads.every((p) => p === 1);
}

/**
 * The tiling of a layer's output: m×m tiles per image, and the GEMM's rows per ξ: 16 where the
 * tiles fit (one register or quad tile), else whole pixel tiles of the GEMM's kernel (its images
 * must be: 28 rows for quad2x2, 16 for the others). The three programs of a layer share one.
 */
export interface WinogradTiles {
  m: WinogradTile;
  batch: number;
  tilesH: number;
  tilesW: number;
  tilesPad: number;
}

/** Rows per ξ where a layer's tiles fit one register or quad tile (small maps); gemmVariant runs such GEMMs on `quad`. */
export const SMALL_GEMM_ROWS = 16;

export function winogradTiles(x: Shape4, m: WinogradTile, gemm: WinogradGemmVariant): WinogradTiles {
  const tilesH = Math.ceil(x.h / m);
  const tilesW = Math.ceil(x.w / m);
  const tiles = x.n * tilesH * tilesW;
  const rows = gemmTileRows(gemm);
  return { m, batch: x.n, tilesH, tilesW, tilesPad: tiles <= SMALL_GEMM_ROWS ? SMALL_GEMM_ROWS : Math.ceil(tiles / rows) * rows };
}

/** The (m+2)² transformed inputs (or GEMM outputs) of `channels` channels, as the GEMM sees them: (m+2)² images of tilesPad × 1 pixels. */
export const winogradShape = (t: WinogradTiles, channels: number): Shape4 => ({ n: (t.m + 2) ** 2, h: t.tilesPad, w: 1, c: channels });

const tileCount = (t: WinogradTiles): number => t.batch * t.tilesH * t.tilesW;

/** Input: x (NHWC, the conv's input). Output: V, winogradShape(tiles, x.c). */
export class WinogradInputProgram implements Program {
  readonly name = 'winograd_input';
  readonly shader = inputShader;
  readonly variant: string;
  readonly constants: Record<string, number>;
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(x: Shape4, t: WinogradTiles) {
    const { m } = t;
    this.variant = `winograd${m}`; // the form, as ../model/graph.ts's WINOGRAD_FORMS names it
    this.constants = { M: m };
    const c4 = roundUp4(x.c) / 4;
    this.uniforms = packUniforms([x.n, x.h, x.w, c4, t.tilesH, t.tilesW, t.tilesPad]);
    this.workgroups = workgroupsFor(tileCount(t) * c4);
    // Additions (and, for m = 4, multiplies by small constants) per tile and channel.
    this.flops = tileCount(t) * x.c * (m === 2 ? 32 : 240);
    this.output = winogradShape(t, x.c);
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}

/** Inputs: M (winogradGemm's output), packed scale/bias; with `residual`, the output buffer holds the residual on entry (Step.inPlace). */
export class WinogradOutputProgram implements Program {
  readonly name = 'winograd_output';
  readonly shader = outputShader;
  readonly variant: string;
  readonly constants: Record<string, number>;
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(x: Shape4, outChannels: number, relu: boolean, residual: boolean, t: WinogradTiles) {
    const { m } = t;
    this.variant = `winograd${m}`;
    this.constants = { M: m };
    const c4 = roundUp4(outChannels) / 4;
    this.uniforms = packUniforms([x.n, x.h, x.w, c4, t.tilesH, t.tilesW, t.tilesPad, Number(relu) | (Number(residual) << 1)]);
    this.workgroups = workgroupsFor(tileCount(t) * c4);
    this.flops = tileCount(t) * outChannels * (m === 2 ? 24 : 140);
    this.output = { n: x.n, h: x.h, w: x.w, c: outChannels };
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}

/** Inputs: V, WinogradWeightsProgram's U, a scale of 1 and bias of 0 (the epilogue comes after the output transform). Output: M. */
export function winogradGemm(x: Shape4, outChannels: number, t: WinogradTiles, variant: WinogradGemmVariant): Conv2dProgram {
  const attrs: Conv2dAttributes = { outChannels, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, pads: [0, 0, 0, 0], dilationH: 1, dilationW: 1, relu: false, residual: false };
  return new Conv2dProgram(winogradShape(t, x.c), attrs, gemmVariant(variant, t.tilesPad), (roundUp4(x.c) / 4) * (roundUp4(outChannels) / 4));
}

// G of F(m×m, 3×3), (m+2)×3: U = G g Gᵀ.
const G: Record<WinogradTile, number[][]> = {
  2: [
    [1, 0, 0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0, 0, 1],
  ],
  4: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
};

/** Input: a 3×3 conv's weights as packConvWeights lays them out. Output: U = G g Gᵀ, winogradGemm's weights. */
export class WinogradWeightsProgram implements Program {
  readonly name = 'winograd_weights';
  readonly shader = weightsShader;
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly outputBytes: number;

  constructor(inChannels: number, outChannels: number, m: WinogradTile) {
    const vecs = roundUp4(inChannels) * (roundUp4(outChannels) / 4); // vec4 of weights per tap
    const n = m + 2;
    const rows = Array.from({ length: 6 }, (_, i) => [...(G[m][i] ?? [0, 0, 0]), 0]).flat();
    this.uniforms = packUniforms([vecs, n, 0, 0], rows);
    this.workgroups = workgroupsFor(vecs);
    // Per vec4: g Gᵀ (3n sums of 3 terms), then G (g Gᵀ) (n² of 3).
    this.flops = vecs * 4 * 2 * 3 * (3 * n + n * n);
    this.outputBytes = n * n * vecs * 16;
  }
}
