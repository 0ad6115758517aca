import inputShader from '../shaders/winograd_input.wgsl?raw';
import outputShader from '../shaders/winograd_output.wgsl?raw';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';
import { Conv2dProgram, type Conv2dAttributes } from './conv2d';

/**
 * Winograd F(2×2, 3×3) (Lavin & Gray, 2016) for 3×3 convolutions of stride 1 and pad 1: each 2×2
 * block ("tile") of outputs comes from its 4×4 input patch with 16 multiplies per input/output
 * channel pair instead of 36. Three dispatches:
 * 1. WinogradInputProgram: V = Bᵀ d B per tile and channel: 16 matrices V[ξ], tiles × inC.
 * 2. winogradGemm: M[ξ] = V[ξ] · U[ξ] for the 16 ξ, the register conv kernel run as a 1×1
 *    convolution over 16 "images" of `tilesPad` rows whose weights switch per image. U = G g Gᵀ
 *    is packed when a schedule first runs the layer so (packWinogradWeights), 16/9 the size of the
 *    3×3 weights, which are then released.
 * 3. WinogradOutputProgram: y = Aᵀ M A per tile, then the conv's epilogue (folded BatchNorm,
 *    residual, ReLU).
 * Whether a layer runs this way or as one direct convolution is measured per adapter and shape
 * (the autotune, from ResNetModel's pickWinograd): on SwiftShader it wins on the 14×14 and 7×7
 * layers (~2× there), ties on 56×56; on GPUs its GEMM lacks the tiled variants.
 */
export function winogradApplies(attrs: Conv2dAttributes): boolean {
  const { kernelH, kernelW, strideH, strideW, pads, dilationH, dilationW } = attrs;
  return kernelH === 3 && kernelW === 3 && strideH === 1 && strideW === 1 && dilationH === 1 && dilationW === 1 && pads.every((p) => p === 1);
}

/** The tiling of a layer's output: 2×2 tiles per image, and the GEMM's rows per ξ (a multiple of the register kernel's 16-pixel tile). */
export interface WinogradTiles {
  batch: number;
  tilesH: number;
  tilesW: number;
  tilesPad: number;
}

export function winogradTiles(x: Shape4): WinogradTiles {
  const tilesH = Math.ceil(x.h / 2);
  const tilesW = Math.ceil(x.w / 2);
  return { batch: x.n, tilesH, tilesW, tilesPad: Math.ceil((x.n * tilesH * tilesW) / 16) * 16 };
}

/** The 16 transformed inputs (or GEMM outputs) of `channels` channels, as the GEMM sees them: 16 images of tilesPad × 1 pixels. */
export const winogradShape = (t: WinogradTiles, channels: number): Shape4 => ({ n: 16, h: t.tilesPad, w: 1, c: channels });

const tileCount = (t: WinogradTiles): number => t.batch * t.tilesH * t.tilesW;

/** Input: x (NHWC, the conv's input). Output: V, winogradShape(tiles, x.c). */
export class WinogradInputProgram implements Program {
  readonly name = 'winograd_input';
  readonly shader = inputShader;
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(x: Shape4) {
    const t = winogradTiles(x);
    const c4 = roundUp4(x.c) / 4;
    this.uniforms = packUniforms([x.n, x.h, x.w, c4, t.tilesH, t.tilesW, t.tilesPad]);
    this.workgroups = workgroupsFor(tileCount(t) * c4);
    this.flops = tileCount(t) * x.c * 32; // 2 × 16 additions per tile and channel
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
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(x: Shape4, outChannels: number, relu: boolean, residual: boolean) {
    const t = winogradTiles(x);
    const c4 = roundUp4(outChannels) / 4;
    this.uniforms = packUniforms([x.n, x.h, x.w, c4, t.tilesH, t.tilesW, t.tilesPad, Number(relu) | (Number(residual) << 1)]);
    this.workgroups = workgroupsFor(tileCount(t) * c4);
    this.flops = tileCount(t) * outChannels * 24; // 24 additions per tile and channel
    this.output = { n: x.n, h: x.h, w: x.w, c: outChannels };
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}

/** Inputs: V, packWinogradWeights' U, a scale of 1 and bias of 0 (the epilogue comes after the output transform). Output: M. */
export function winogradGemm(x: Shape4, outChannels: number): Conv2dProgram {
  const attrs: Conv2dAttributes = { outChannels, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, pads: [0, 0, 0, 0], dilationH: 1, dilationW: 1, relu: false, residual: false };
  return new Conv2dProgram(winogradShape(winogradTiles(x), x.c), attrs, 'register', (roundUp4(x.c) / 4) * (roundUp4(outChannels) / 4));
}

// G of F(2×2, 3×3): U = G g Gᵀ.
const G = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
];

/**
 * OIHW 3×3 weights → U = G g Gᵀ per output/input channel pair, in packConvWeights' layout for a
 * 4×4 kernel (ξ = 4·row + column in place of the tap), written there directly.
 */
export function packWinogradWeights(weight: Float32Array, [outC, inC, kH, kW]: number[]): Float32Array {
  if (kH !== 3 || kW !== 3) throw new Error(`winograd: 3×3 weights expected, got ${kH}×${kW}`);
  const inC4 = roundUp4(inC) / 4;
  const outC4 = roundUp4(outC) / 4;
  const out = new Float32Array(16 * inC4 * outC4 * 16);
  const gG = new Float64Array(12); // g Gᵀ (3×4) for one channel pair
  for (let o = 0; o < outC; o++) {
    for (let i = 0; i < inC; i++) {
      const g = 9 * (o * inC + i);
      for (let r = 0; r < 3; r++) for (let b = 0; b < 4; b++) gG[r * 4 + b] = weight[g + r * 3] * G[b][0] + weight[g + r * 3 + 1] * G[b][1] + weight[g + r * 3 + 2] * G[b][2];
      const lane = (i & 3) * 4 + (o & 3);
      for (let a = 0; a < 4; a++) {
        for (let b = 0; b < 4; b++) {
          const block = ((a * 4 + b) * inC4 + (i >> 2)) * outC4 + (o >> 2);
          out[block * 16 + lane] = G[a][0] * gG[b] + G[a][1] * gG[4 + b] + G[a][2] * gG[8 + b];
        }
      }
    }
  }
  return out;
}
