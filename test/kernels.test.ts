import { describe, expect, it } from 'vitest';
import { BatchNormProgram } from '../src/kernels/batchnorm';
import { Conv2dProgram, CONV_VARIANTS, packConvWeights } from '../src/kernels/conv2d';
import { FullyConnectedProgram, packFcWeights } from '../src/kernels/fully-connected';
import { PadChannelsProgram } from '../src/kernels/pad-channels';
import { globalPool, PoolProgram, type PoolAttributes } from '../src/kernels/pool';
import { PreprocessProgram, type PreprocessConfig } from '../src/kernels/preprocess';
import { SoftmaxProgram } from '../src/kernels/softmax';
import { winogradApplies, winogradGemm, WinogradInputProgram, WinogradOutputProgram, winogradTiles, WinogradWeightsProgram } from '../src/kernels/winograd';
import { SpaceToDepthProgram, spaceToDepthWeights, useSpaceToDepth } from '../src/kernels/space-to-depth';
import { nhwc4Bytes, packScaleBias, type Shape4 } from '../src/runtime/layout';
import { roundUp4 } from '../src/runtime/program';
import * as ref from './cpu-reference';
import { nchwToNhwc4, nhwc4ToNchw, runKernel, testGpu } from './gpu';

// Tolerances: max |gpu − reference| ≤ TOL · max |reference| over each output.
// Conv sums ≤ 7·7·13 f32 products; rounding grows ~√K·2⁻²⁴ of the partial sums, so 1e-5 leaves margin.
const CONV_TOL = 1e-5;
// Winograd F(2×2)'s transforms add up to 4×4 terms on each side of the GEMM, each sum rounding at
// up to 4× the magnitude of its inputs (its G holds halves, exact in f32): a few times CONV_TOL.
// F(4×4)'s weigh 6×6 terms by up to 8 (Aᵀ) and 5 (Bᵀ), and its G's sixths and 24ths round: about
// 15× F(2×2)'s error here (≤ 3e-6 of max |ref| against ≤ 2e-7), still within.
const WINOGRAD_TOL = 4e-5;
// One f32 multiply-add (+ one add): a few ulp.
const AFFINE_TOL = 1e-6;
// Max picks one of its inputs, so it must be exact.
const MAX_POOL_TOL = 0;
// An f32 sum of ≤ 49 window values and one divide.
const AVG_POOL_TOL = 1e-6;
// f32 dot products of ≤ 64 terms plus the bias.
const FC_TOL = 1e-5;
// WGSL's exp is good to 3 + 2|x| ulp and the row sums ≤ 1000 f32 terms.
const SOFTMAX_TOL = 1e-5;
// A copy: exact.
const PAD_TOL = 0;
// f32 source coordinates near 640 px round by ~6e-5 px; times a 0→255 step between neighbours over std 0.224: ~1e-4.
const PREPROCESS_TOL = 2e-4;

/** mulberry32: a small seeded PRNG, so every run checks the same cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    int,
    pick: <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)],
    /** An odd size ≥ `min` (odd sizes expose off-by-one errors in strided loops). */
    odd: (min: number, max: number): number => (Math.max(min, int(1, max)) | 1),
    /** Values in [lo, hi) that are exact in f32, so both sides see the same inputs. */
    floats: (n: number, lo = -1, hi = 1): Float64Array => Float64Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * next())),
  };
}
type Rng = ReturnType<typeof prng>;

const CHANNELS = [1, 3, 4, 5, 6, 8, 13];
const shapeOf = (t: ref.Nchw): Shape4 => ({ n: t.n, h: t.h, w: t.w, c: t.c });
const randomTensor = (rng: Rng, n: number, c: number, h: number, w: number): ref.Nchw => ref.nchw(n, c, h, w, rng.floats(n * c * h * w));
const toNhwc4 = (t: ref.Nchw): Float32Array => nchwToNhwc4(new Float32Array(t.data), shapeOf(t));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  expect(maxDiff, `${what}: max |diff| against max |ref| ${maxRef}`).toBeLessThanOrEqual(tol * maxRef);
}

/** Compare an NHWC vec4 output with an NCHW reference; its padding channels must be exactly zero. */
function expectNhwc4(actual: Float32Array, expected: ref.Nchw, tol: number): void {
  const s = shapeOf(expected);
  expect(actual.length * 4).toBe(nhwc4Bytes(s));
  const c4 = roundUp4(s.c);
  const padding = actual.filter((_, i) => i % c4 >= s.c);
  expect(padding.every((v) => v === 0), 'padding channels are zero').toBe(true);
  expectClose(nhwc4ToNchw(actual, s), expected.data, tol, 'values');
}

const fmt = (s: Shape4): string => `n${s.n} ${s.h}×${s.w} c${s.c}`;

describe('conv2d', () => {
  const gen = prng(1);
  const cases = Array.from({ length: 20 }, (_, i) => {
    // Kernel size, residual and ReLU cycle so that 16 cases cover every combination; the rest is random.
    const k = [1, 3, 5, 7][i % 4];
    const kernelW = i % 5 === 4 ? gen.pick([1, 3, 5]) : k;
    const dilation = i % 3 === 2 ? 2 : 1;
    const pads: [number, number, number, number] = [gen.int(0, 3), gen.int(0, 3), gen.int(0, 3), gen.int(0, 3)];
    const input: Shape4 = {
      n: gen.int(1, 3),
      h: gen.odd(dilation * (k - 1) + 1 - pads[0] - pads[2], 11),
      w: gen.odd(dilation * (kernelW - 1) + 1 - pads[1] - pads[3], 11),
      c: gen.pick(CHANNELS),
    };
    const attrs = {
      outChannels: gen.pick(CHANNELS),
      kernelH: k,
      kernelW,
      strideH: gen.pick([1, 2]),
      strideW: gen.pick([1, 2]),
      pads,
      dilationH: dilation,
      dilationW: dilation,
      residual: Math.floor(i / 4) % 2 === 1,
      relu: Math.floor(i / 8) % 2 === 1,
    };
    return { input, attrs, seed: gen.int(1, 2 ** 30) };
  });
  // Wider than one tile of every variant: several K steps (the last one partial), several
  // channel tiles and pixel tiles, and edge tiles in both.
  for (const [n, h, c, outChannels, k, stride] of [
    [2, 9, 70, 130, 3, 1],
    [1, 13, 36, 67, 1, 2],
    [3, 7, 17, 200, 3, 2],
  ]) {
    const pad = k >> 1;
    const input: Shape4 = { n, h, w: h, c };
    const attrs = { outChannels, kernelH: k, kernelW: k, strideH: stride, strideW: stride, pads: [pad, pad, pad, pad] as [number, number, number, number], dilationH: 1, dilationW: 1, residual: true, relu: true };
    cases.push({ input, attrs, seed: gen.int(1, 2 ** 30) });
  }
  const named = CONV_VARIANTS.flatMap((variant) =>
    cases.map(({ input, attrs, seed }) => ({
      input,
      attrs,
      seed,
      variant,
      name: `${variant} ${fmt(input)} → ${attrs.outChannels}ch k${attrs.kernelH}×${attrs.kernelW} s${attrs.strideH}×${attrs.strideW} pads ${attrs.pads} d${attrs.dilationH}${attrs.residual ? ' +residual' : ''}${attrs.relu ? ' relu' : ''}`,
    })),
  );

  it.each(named)('$name', async ({ input, attrs, seed, variant }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const x = randomTensor(rng, input.n, input.c, input.h, input.w);
    const weight = rng.floats(attrs.outChannels * input.c * attrs.kernelH * attrs.kernelW);
    const scale = rng.floats(attrs.outChannels, 0.5, 1.5);
    const bias = rng.floats(attrs.outChannels);
    const program = new Conv2dProgram(input, attrs, variant);
    const out = program.output;
    const residual = attrs.residual ? randomTensor(rng, out.n, out.c, out.h, out.w) : undefined;
    const expected = ref.conv2d(x, weight, attrs, scale, bias, residual, attrs.relu);
    expect(out).toEqual(shapeOf(expected));
    const actual = await runKernel(
      gpu,
      program,
      [
        { activation: toNhwc4(x) },
        { weight: packConvWeights(new Float32Array(weight), [attrs.outChannels, input.c, attrs.kernelH, attrs.kernelW]) },
        { weight: packScaleBias(new Float32Array(scale), new Float32Array(bias)) },
      ],
      program.outputBytes,
      residual && toNhwc4(residual),
    );
    expectNhwc4(actual, expected, CONV_TOL);
  });
});

describe('batchnorm (per-channel affine)', () => {
  const gen = prng(2);
  const cases = Array.from({ length: 12 }, (_, i) => {
    const input: Shape4 = { n: gen.int(1, 3), h: gen.odd(1, 9), w: gen.odd(1, 9), c: gen.pick(CHANNELS) };
    const opts = { residual: i % 2 === 1, relu: Math.floor(i / 2) % 2 === 1 };
    return { input, opts, seed: gen.int(1, 2 ** 30), name: `${fmt(input)}${opts.residual ? ' +residual' : ''}${opts.relu ? ' relu' : ''}` };
  });

  it.each(cases)('$name', async ({ input, opts, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const x = randomTensor(rng, input.n, input.c, input.h, input.w);
    const scale = rng.floats(input.c, -2, 2);
    const bias = rng.floats(input.c);
    const residual = opts.residual ? randomTensor(rng, input.n, input.c, input.h, input.w) : undefined;
    const program = new BatchNormProgram(input, opts);
    const actual = await runKernel(
      gpu,
      program,
      [
        { activation: toNhwc4(x) },
        { weight: packScaleBias(new Float32Array(scale), new Float32Array(bias)) },
        residual ? { activation: toNhwc4(residual) } : { weight: new Float32Array(4) },
      ],
      program.outputBytes,
    );
    expectNhwc4(actual, ref.affine(x, scale, bias, residual, opts.relu), AFFINE_TOL);
  });
});

describe('pool', () => {
  const gen = prng(3);
  const windowed = Array.from({ length: 20 }, (_, i) => {
    const kernelH = gen.pick([1, 2, 3, 5, 7]);
    const kernelW = i % 4 === 3 ? gen.pick([1, 2, 3, 5, 7]) : kernelH;
    // PyTorch allows padding up to half the kernel; sides differ as ONNX's pads allow.
    const padH = () => gen.int(0, Math.min(3, kernelH >> 1));
    const padW = () => gen.int(0, Math.min(3, kernelW >> 1));
    const pads: [number, number, number, number] = [padH(), padW(), padH(), padW()];
    const input: Shape4 = { n: gen.int(1, 3), h: gen.odd(kernelH - pads[0] - pads[2], 11), w: gen.odd(kernelW - pads[1] - pads[3], 11), c: gen.pick(CHANNELS) };
    // Kind, ceil mode and count_include_pad cycle through all 8 combinations.
    const attrs: PoolAttributes = {
      kind: i % 2 ? 'avg' : 'max',
      kernelH,
      kernelW,
      strideH: gen.pick([1, 2, 2, 3]),
      strideW: gen.pick([1, 2, 2, 3]),
      pads,
      ceilMode: Math.floor(i / 2) % 2 === 1,
      countIncludePad: Math.floor(i / 4) % 2 === 1,
    };
    const name = `${attrs.kind} ${fmt(input)} k${kernelH}×${kernelW} s${attrs.strideH}×${attrs.strideW} pads ${pads}${attrs.ceilMode ? ' ceil' : ''}${attrs.countIncludePad ? ' count_include_pad' : ''}`;
    return { input, attrs, global: false, seed: gen.int(1, 2 ** 30), name };
  });
  const global = Array.from({ length: 4 }, (_, i) => {
    const input: Shape4 = { n: gen.int(1, 3), h: gen.odd(1, 9), w: gen.odd(1, 9), c: gen.pick(CHANNELS) };
    const kind = i % 2 ? 'avg' : 'max';
    return { input, attrs: globalPool(kind, input), global: true, seed: gen.int(1, 2 ** 30), name: `global ${kind} ${fmt(input)}` };
  });

  it.each([...windowed, ...global])('$name', async ({ input, attrs, global, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const x = randomTensor(rng, input.n, input.c, input.h, input.w);
    const expected = global ? ref.globalPool2d(x, attrs.kind) : ref.pool2d(x, attrs);
    const program = new PoolProgram(input, attrs);
    expect(program.output).toEqual(shapeOf(expected));
    const actual = await runKernel(gpu, program, [{ activation: toNhwc4(x) }], program.outputBytes);
    expectNhwc4(actual, expected, attrs.kind === 'max' ? MAX_POOL_TOL : AVG_POOL_TOL);
  });
});

describe('fully_connected', () => {
  const gen = prng(4);
  // Each dot product whole (a CPU adapter's) or split over 32 invocations (a GPU's); more inputs than
  // lanes, and more outputs than one workgroup's (32 with 32 lanes, 64 with 1).
  const cases = [...Array.from({ length: 10 }, () => ({ batch: gen.int(1, 3), inF: gen.pick([...CHANNELS, 64]), outF: gen.pick([1, 3, 5, 10, 17]) })), { batch: 2, inF: 300, outF: 70 }].flatMap((dims) =>
    [1, 32].map((lanes) => ({ ...dims, lanes, seed: gen.int(1, 2 ** 30), name: `${dims.batch}×${dims.inF} → ${dims.outF}, ${lanes} lanes` })),
  );

  it.each(cases)('$name', async ({ batch, inF, outF, lanes, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    // The input is a global pool's output: NHWC vec4 with 1×1 spatial size.
    const x = randomTensor(rng, batch, inF, 1, 1);
    const weight = rng.floats(outF * inF);
    const bias = rng.floats(outF);
    const program = new FullyConnectedProgram(batch, inF, outF, lanes);
    const actual = await runKernel(
      gpu,
      program,
      [{ activation: toNhwc4(x) }, { weight: packFcWeights(new Float32Array(weight), [outF, inF]) }, { weight: new Float32Array(bias) }],
      program.outputBytes,
    );
    expectClose(actual, ref.fullyConnected(x.data, weight, bias, batch, inF, outF), FC_TOL, 'logits');
  });
});

describe('softmax', () => {
  const gen = prng(5);
  const cases = Array.from({ length: 10 }, (_, i) => {
    // Offsets of ±100 would overflow exp without the max subtraction.
    const dims = { rows: gen.int(1, 4), cols: gen.pick([1, 2, 5, 10, 100, 1000]), spread: gen.pick([1, 10, 30]), offset: [0, 100, -100][i % 3] };
    return { ...dims, seed: gen.int(1, 2 ** 30), name: `${dims.rows}×${dims.cols} logits ${dims.offset} ± ${dims.spread}` };
  });

  it.each(cases)('$name', async ({ rows, cols, spread, offset, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const x = rng.floats(rows * cols, offset - spread, offset + spread);
    const program = new SoftmaxProgram(rows, cols);
    const actual = await runKernel(gpu, program, [{ activation: new Float32Array(x) }], program.outputBytes);
    expectClose(actual, ref.softmax(x, rows, cols), SOFTMAX_TOL, 'probabilities');
  });
});

describe('space_to_depth stem: a stride-2 conv as a stride-1 conv over stacked 2×2 blocks', () => {
  const gen = prng(11);
  const cases = Array.from({ length: 8 }, (_, i) => {
    const k = [7, 5, 3, 7][i % 4];
    const c = [3, 1, 2, 3][Math.floor(i / 2) % 4];
    const pad = gen.int(0, 3);
    const input: Shape4 = { n: gen.int(1, 2), h: gen.odd(k, 15), w: gen.odd(k, 15), c };
    return { input, k, pad, outChannels: gen.pick(CHANNELS), seed: gen.int(1, 2 ** 30), name: `${fmt(input)} k${k} pad ${pad}` };
  });

  it('is taken where the multiply-adds do not grow: the RGB 7×7 stem, not 4 channels or stride 1', () => {
    expect(useSpaceToDepth(7, 2, 3)).toBe(true);
    expect(useSpaceToDepth(3, 2, 1)).toBe(true);
    expect(useSpaceToDepth(7, 2, 4)).toBe(false);
    expect(useSpaceToDepth(3, 2, 3)).toBe(false);
    expect(useSpaceToDepth(7, 1, 3)).toBe(false);
  });

  it.each(cases)('$name', async ({ input, k, pad, outChannels, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const x = randomTensor(rng, input.n, input.c, input.h, input.w);
    const weight = rng.floats(outChannels * input.c * k * k);
    const scale = rng.floats(outChannels, 0.5, 1.5);
    const bias = rng.floats(outChannels);
    const attrs = { outChannels, kernelH: k, kernelW: k, strideH: 2, strideW: 2, pads: [pad, pad, pad, pad] as [number, number, number, number], dilationH: 1, dilationW: 1, residual: false, relu: true };
    const expected = ref.conv2d(x, weight, attrs, scale, bias, undefined, true);
    const stack = new SpaceToDepthProgram(input, k, pad, expected.h, expected.w);
    const stacked = await runKernel(gpu, stack, [{ activation: toNhwc4(x) }], stack.outputBytes);
    const half = Math.ceil(k / 2);
    const conv = new Conv2dProgram(stack.output, { ...attrs, kernelH: half, kernelW: half, strideH: 1, strideW: 1, pads: [0, 0, 0, 0] });
    expect(conv.output).toEqual(shapeOf(expected));
    const w = spaceToDepthWeights(new Float32Array(weight), [outChannels, input.c, k, k]);
    const actual = await runKernel(
      gpu,
      conv,
      [{ activation: stacked }, { weight: packConvWeights(w.data, w.shape) }, { weight: packScaleBias(new Float32Array(scale), new Float32Array(bias)) }],
      conv.outputBytes,
    );
    expectNhwc4(actual, expected, CONV_TOL);
  });
});

describe('winograd F(2×2, 3×3) and F(4×4, 3×3): input transform, GEMM, output transform equal the 3×3 conv', () => {
  const gen = prng(12);
  // Odd and even sizes (edge tiles cut to one row/column), 1×1 images, batches whose tile count is
  // not a multiple of the GEMM's 16 or 28 rows (quad2x2's; 16 tiles or fewer run on quad), channels
  // not a multiple of 4, several GEMM channel tiles.
  const cases = [
    [1, 7, 7, 5, 13],
    [2, 9, 6, 8, 6],
    [1, 1, 1, 3, 4],
    [3, 5, 11, 17, 70],
    [1, 14, 14, 64, 33],
    [2, 2, 3, 1, 1],
  ].map(([n, h, w, c, outChannels], i) => {
    const input: Shape4 = { n, h, w, c };
    const residual = i % 2 === 1;
    const relu = i % 3 !== 2;
    const seed = gen.int(1, 2 ** 30);
    // The GEMM on each kernel that takes per-image weights.
    return ([2, 4] as const).flatMap((m) =>
      (['register', 'quad', 'quad2x2', 'ksplit', 'ksplit16'] as const).map((gemm) => ({ m, gemm, input, outChannels, residual, relu, seed, name: `F(${m}×${m}) GEMM on ${gemm} ${fmt(input)} → ${outChannels}ch${residual ? ' +residual' : ''}${relu ? ' relu' : ''}` })),
    );
  }).flat();

  it('applies to 3×3 convolutions of stride 1, pad 1 and dilation 1 only', () => {
    const attrs = { outChannels: 8, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, pads: [1, 1, 1, 1] as [number, number, number, number], dilationH: 1, dilationW: 1, relu: true, residual: false };
    expect(winogradApplies(attrs)).toBe(true);
    expect(winogradApplies({ ...attrs, strideH: 2, strideW: 2 })).toBe(false);
    expect(winogradApplies({ ...attrs, pads: [0, 0, 0, 0] })).toBe(false);
    expect(winogradApplies({ ...attrs, dilationH: 2, dilationW: 2 })).toBe(false);
    expect(winogradApplies({ ...attrs, kernelH: 1, kernelW: 1, pads: [0, 0, 0, 0] })).toBe(false);
  });

  it.each(cases)('$name', async ({ m: tile, gemm: gemmVariant, input, outChannels, residual: withResidual, relu, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const x = randomTensor(rng, input.n, input.c, input.h, input.w);
    const weight = rng.floats(outChannels * input.c * 9);
    const scale = rng.floats(outChannels, 0.5, 1.5);
    const bias = rng.floats(outChannels);
    const attrs = { outChannels, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, pads: [1, 1, 1, 1] as [number, number, number, number], dilationH: 1, dilationW: 1, residual: withResidual, relu };
    const residual = withResidual ? randomTensor(rng, input.n, outChannels, input.h, input.w) : undefined;
    const expected = ref.conv2d(x, weight, attrs, scale, bias, residual, relu);
    const tiles = winogradTiles(input, tile, gemmVariant);
    const transform = new WinogradInputProgram(input, tiles);
    const v = await runKernel(gpu, transform, [{ activation: toNhwc4(x) }], transform.outputBytes);
    const gemm = winogradGemm(input, outChannels, tiles, gemmVariant);
    const identity = packScaleBias(new Float32Array(outChannels).fill(1), new Float32Array(outChannels));
    const transformWeights = new WinogradWeightsProgram(input.c, outChannels, tile);
    const u = await runKernel(gpu, transformWeights, [{ weight: packConvWeights(new Float32Array(weight), [outChannels, input.c, 3, 3]) }], transformWeights.outputBytes);
    const m = await runKernel(gpu, gemm, [{ activation: v }, { weight: u }, { weight: identity }], gemm.outputBytes);
    const output = new WinogradOutputProgram(input, outChannels, relu, withResidual, tiles);
    expect(output.output).toEqual(shapeOf(expected));
    const actual = await runKernel(gpu, output, [{ activation: m }, { weight: packScaleBias(new Float32Array(scale), new Float32Array(bias)) }], output.outputBytes, residual && toNhwc4(residual));
    expectNhwc4(actual, expected, WINOGRAD_TOL);
  });
});

describe('pad_channels', () => {
  const gen = prng(6);
  const cases = Array.from({ length: 12 }, (_, i) => {
    const input: Shape4 = { n: gen.int(1, 3), h: gen.odd(1, 11), w: gen.odd(1, 11), c: gen.pick([...CHANNELS, 16]) };
    const offset = 4 * (i % 3);
    const outChannels = offset + input.c + gen.int(0, 5);
    const stride = gen.pick([1, 2]);
    return { input, offset, outChannels, stride, seed: gen.int(1, 2 ** 30), name: `${fmt(input)} → ${outChannels}ch at ${offset} stride ${stride}` };
  });

  it.each(cases)('$name', async ({ input, offset, outChannels, stride, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const x = randomTensor(rng, input.n, input.c, input.h, input.w);
    const expected = ref.padChannels(x, outChannels, stride, offset);
    const program = new PadChannelsProgram(input, outChannels, stride, offset);
    expect(program.output).toEqual(shapeOf(expected));
    const actual = await runKernel(gpu, program, [{ activation: toNhwc4(x) }], program.outputBytes);
    expectNhwc4(actual, expected, PAD_TOL);
  });
});

describe('preprocess', () => {
  const gen = prng(7);
  const imagenet = { resize: 256, cropH: 224, cropW: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], grayscale: false } satisfies PreprocessConfig;
  const random = Array.from({ length: 10 }, (_, i) => {
    const srcW = gen.int(5, 48);
    const srcH = gen.int(5, 48);
    const resize = gen.int(4, 24);
    const longer = Math.floor((resize * Math.max(srcW, srcH)) / Math.min(srcW, srcH));
    const cfg: PreprocessConfig = {
      resize,
      cropH: gen.int(1, srcW <= srcH ? longer : resize),
      cropW: gen.int(1, srcW <= srcH ? resize : longer),
      mean: [gen.floats(1, 0.3, 0.6)[0], 0.456, 0.406],
      std: [gen.floats(1, 0.2, 0.3)[0], 0.224, 0.225],
      grayscale: i % 3 === 2,
    };
    return { srcW, srcH, cfg, batch: gen.int(1, 3) };
  });
  const cases = [
    // ImageNet-sized: 500×375 crops at 58.5 px (Python rounds to 58); 427×640 resizes to 256×383 (not 384).
    { srcW: 500, srcH: 375, cfg: imagenet, batch: 1 },
    { srcW: 427, srcH: 640, cfg: imagenet, batch: 1 },
    ...random,
  ].map((c, i) => ({ ...c, index: i % c.batch, seed: gen.int(1, 2 ** 30), name: `${c.srcW}×${c.srcH} → ${c.cfg.resize} → ${c.cfg.cropH}×${c.cfg.cropW}${c.cfg.grayscale ? ' gray' : ''} image ${i % c.batch} of ${c.batch}` }));

  it.each(cases)('$name', async ({ srcW, srcH, cfg, batch, index, seed }) => {
    const gpu = await testGpu();
    const rng = prng(seed);
    const rgba = Uint8Array.from({ length: srcW * srcH * 4 }, () => rng.int(0, 255));
    const program = new PreprocessProgram(srcW, srcH, index, cfg);
    const bytes = nhwc4Bytes({ n: 1, h: cfg.cropH, w: cfg.cropW, c: 3 });
    // RGBA8 bytes as one u32 per pixel; the Float32Array is only a view for upload, never read.
    const actual = await runKernel(gpu, program, [{ weight: new Float32Array(rgba.buffer) }], batch * bytes);
    const others = [...actual.subarray(0, (index * bytes) / 4), ...actual.subarray(((index + 1) * bytes) / 4)];
    expect(others.every((v) => v === 0), 'other images untouched').toBe(true);
    expectNhwc4(actual.subarray((index * bytes) / 4, ((index + 1) * bytes) / 4), ref.preprocess(rgba, srcW, srcH, cfg), PREPROCESS_TOL);
  });
});
