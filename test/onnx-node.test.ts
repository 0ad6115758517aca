import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BatchNormProgram } from '../src/kernels/batchnorm';
import { Conv2dProgram, packConvWeights } from '../src/kernels/conv2d';
import { FullyConnectedProgram, packFcWeights } from '../src/kernels/fully-connected';
import { globalPool, PoolProgram, type PoolAttributes } from '../src/kernels/pool';
import { SoftmaxProgram } from '../src/kernels/softmax';
import type { Gpu } from '../src/runtime/device';
import { packScaleBias, type Shape4 } from '../src/runtime/layout';
import { ROOT } from './fixtures';
import { nchwToNhwc4, nhwc4ToNchw, runKernel, testGpu } from './gpu';
import { listCases, readCase, readDataSets, type AttributeValue, type OnnxCase, type OnnxNode, type Tensor, type ValueInfo } from './onnx';

/**
 * ONNX's own backend node tests, each single-node case mapped onto one of our kernels. Whether a
 * case is run is decided from its op type, attributes, dtypes and shapes; the skipped ones and the
 * per-op counts must equal docs/onnx-conformance.md.
 */

/** ONNX's backend-test tolerance (numpy assert_allclose): |actual − expected| ≤ ATOL + RTOL·|expected|. */
const RTOL = 1e-3;
const ATOL = 1e-7;

/** Case-name prefix → the op its cases test. */
const FAMILIES: [prefix: string, op: string][] = [
  ['conv', 'Conv'],
  ['basic_conv', 'Conv'],
  ['batchnorm', 'BatchNormalization'],
  ['maxpool', 'MaxPool'],
  ['averagepool', 'AveragePool'],
  ['globalaveragepool', 'GlobalAveragePool'],
  ['globalmaxpool', 'GlobalMaxPool'],
  ['gemm', 'Gemm'],
  ['relu', 'Relu'],
  ['add', 'Add'],
  ['softmax', 'Softmax'],
];

type Run = (gpu: Gpu, inputs: Tensor[]) => Promise<Tensor>;
/** A case either maps onto a kernel (`run` takes the graph's inputs in order) or is skipped. */
type Mapping = { run: Run } | { skip: string };

class Skip extends Error {}
const unsupported = (reason: string): never => {
  throw new Skip(reason);
};

const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);
const PLACEHOLDER = { weight: new Float32Array(4) }; // bound where RESIDUAL is off, as the model does

type Attributes = ReturnType<typeof attributes>;

/** Node attributes, refusing any this mapping does not know (it might change the result). */
function attributes(node: OnnxNode, known: string[]) {
  for (const name of node.attributes.keys()) if (!known.includes(name)) unsupported(`attribute ${name} not mapped`);
  const get = (name: string): AttributeValue | undefined => node.attributes.get(name);
  return {
    int: (name: string, fallback: number) => (get(name) ?? fallback) as number,
    float: (name: string, fallback: number) => (get(name) ?? fallback) as number,
    ints: (name: string, fallback: number[]) => (get(name) ?? fallback) as number[],
    string: (name: string, fallback: string) => (get(name) ?? fallback) as string,
  };
}

/** N, C, then the spatial axes folded into H and W (W the last): our NHWC view of an NCHW-style tensor. */
function channelsFirst(dims: number[]): Shape4 {
  if (dims.length < 2) unsupported(`rank-${dims.length} input has no channel axis`);
  const spatial = dims.slice(2);
  return { n: dims[0], c: dims[1], h: prod(spatial.slice(0, -1)), w: spatial.length ? spatial[spatial.length - 1] : 1 };
}

/** Rank-4 tensors as NCHW; others with their last axis as channels (row-major is then already NHWC). */
const elementwiseShape = (dims: number[]): Shape4 =>
  dims.length === 4 ? channelsFirst(dims) : { n: prod(dims.slice(0, -1)), h: 1, w: 1, c: dims.length ? dims[dims.length - 1] : 1 };

/**
 * Per-spatial-axis [begin, end] padding. auto_pad SAME_* gives ceil(in / stride) outputs with the
 * odd pixel at the end (UPPER) or the beginning (LOWER); VALID pads nothing.
 */
function resolvePads(autoPad: string, pads: number[], input: number[], kernel: number[], strides: number[], dilations: number[]): [number, number][] {
  const rank = input.length;
  switch (autoPad) {
    case 'NOTSET':
      return input.map((_, i) => [pads[i] ?? 0, pads[i + rank] ?? 0]);
    case 'VALID':
      return input.map(() => [0, 0]);
    case 'SAME_UPPER':
    case 'SAME_LOWER':
      return input.map((size, i) => {
        const out = Math.ceil(size / strides[i]);
        const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size);
        const small = Math.floor(total / 2);
        return autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
      });
    default:
      return unsupported(`auto_pad ${autoPad}`);
  }
}

/** Spatial attributes of a conv or pool: 1-D ones are lifted to 2-D with a height of 1. */
function spatial2d(op: string, a: Attributes, x: number[], kernelShape: number[]) {
  const rank = x.length - 2;
  if (rank !== 1 && rank !== 2) unsupported(`${rank}-D ${op}: the kernels are 2-D`);
  const ones = kernelShape.map(() => 1);
  const strides = a.ints('strides', ones);
  const dilations = a.ints('dilations', ones);
  const pads = resolvePads(a.string('auto_pad', 'NOTSET'), a.ints('pads', []), x.slice(2), kernelShape, strides, dilations);
  const lift = <T>(v: T[], one: T): T[] => (rank === 1 ? [one, ...v] : v);
  const [kernelH, kernelW] = lift(kernelShape, 1);
  const [strideH, strideW] = lift(strides, 1);
  const [dilationH, dilationW] = lift(dilations, 1);
  const [[top, bottom], [left, right]] = lift(pads, [0, 0] as [number, number]);
  return {
    input: { n: x[0], c: x[1], h: rank === 1 ? 1 : x[2], w: x[x.length - 1] },
    kernelH,
    kernelW,
    strideH,
    strideW,
    dilationH,
    dilationW,
    pads: [top, left, bottom, right] as [number, number, number, number],
    /** ONNX dims of an output [n][c][h][w] computed in the lifted 2-D view. */
    outDims: (s: Shape4) => (rank === 1 ? [s.n, s.c, s.w] : [s.n, s.c, s.h, s.w]),
  };
}

function conv(node: OnnxNode, [x, w]: number[][]): Run {
  const a = attributes(node, ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']);
  if (a.int('group', 1) !== 1) unsupported(`group=${a.int('group', 1)}: conv2d has no groups`);
  const s = spatial2d(node.opType, a, x, a.ints('kernel_shape', w.slice(2)));
  const outC = w[0];
  const program = new Conv2dProgram(s.input, { ...s, outChannels: outC, relu: false, residual: false });
  return async (gpu, [xt, wt, bt]) => {
    const weights = packConvWeights(wt.data, [outC, w[1], s.kernelH, s.kernelW]);
    const scaleBias = packScaleBias(new Float32Array(outC).fill(1), bt?.data ?? new Float32Array(outC));
    const inputs = [{ activation: nchwToNhwc4(xt.data, s.input) }, { weight: weights }, { weight: scaleBias }];
    const y = await runKernel(gpu, program, inputs, program.outputBytes);
    return { dims: s.outDims(program.output), data: nhwc4ToNchw(y, program.output) };
  };
}

function pool(node: OnnxNode, [x]: number[][]): Run {
  const max = node.opType === 'MaxPool';
  // storage_order only orders the Indices output, which is refused below.
  const a = attributes(node, ['auto_pad', 'ceil_mode', 'kernel_shape', 'pads', 'strides', ...(max ? ['dilations', 'storage_order'] : ['count_include_pad'])]);
  if (node.outputs.filter(Boolean).length > 1) unsupported('Indices output (argmax): the pool kernel writes values only');
  const dilations = a.ints('dilations', []);
  if (dilations.some((d) => d !== 1)) unsupported(`dilations [${dilations}]: the pool kernel has no dilation`);
  const s = spatial2d(node.opType, a, x, a.ints('kernel_shape', []));
  const attrs: PoolAttributes = { ...s, kind: max ? 'max' : 'avg', ceilMode: a.int('ceil_mode', 0) === 1, countIncludePad: a.int('count_include_pad', 0) === 1 };
  const program = new PoolProgram(s.input, attrs);
  return async (gpu, [xt]) => {
    const y = await runKernel(gpu, program, [{ activation: nchwToNhwc4(xt.data, s.input) }], program.outputBytes);
    return { dims: s.outDims(program.output), data: nhwc4ToNchw(y, program.output) };
  };
}

function globalPoolNode(node: OnnxNode, [x]: number[][]): Run {
  attributes(node, []);
  if (x.length < 3) unsupported(`rank-${x.length} input has no spatial axes`);
  // Spatial axes folded into H×W: pooling over all of them is pooling over H×W.
  const shape = channelsFirst(x);
  const program = new PoolProgram(shape, globalPool(node.opType === 'GlobalMaxPool' ? 'max' : 'avg', shape));
  return async (gpu, [xt]) => {
    const y = await runKernel(gpu, program, [{ activation: nchwToNhwc4(xt.data, shape) }], program.outputBytes);
    return { dims: [x[0], x[1], ...x.slice(2).map(() => 1)], data: nhwc4ToNchw(y, program.output) };
  };
}

/** The batchnorm kernel as a per-channel affine map of one input, with an optional residual. */
async function affine(gpu: Gpu, shape: Shape4, x: Float32Array, scale: Float32Array, bias: Float32Array, opts: { relu: boolean; residual?: Float32Array }) {
  const program = new BatchNormProgram(shape, { relu: opts.relu, residual: opts.residual !== undefined });
  const residual = opts.residual ? { activation: nchwToNhwc4(opts.residual, shape) } : PLACEHOLDER;
  const y = await runKernel(gpu, program, [{ activation: nchwToNhwc4(x, shape) }, { weight: packScaleBias(scale, bias) }, residual], program.outputBytes);
  return nhwc4ToNchw(y, shape);
}

function batchNormalization(node: OnnxNode, [x]: number[][]): Run {
  const a = attributes(node, ['epsilon', 'momentum', 'training_mode']);
  if (a.int('training_mode', 0) !== 0 || node.outputs.filter(Boolean).length > 1) unsupported('training_mode=1: batch statistics and running-stat outputs');
  const shape = channelsFirst(x);
  const epsilon = a.float('epsilon', 1e-5);
  return async (gpu, [xt, gamma, beta, mean, variance]) => {
    // Inference BatchNorm folded to y = x·scale + bias, as the model loader folds it.
    const scale = gamma.data.map((g, c) => g / Math.sqrt(variance.data[c] + epsilon));
    const bias = beta.data.map((b, c) => b - mean.data[c] * scale[c]);
    return { dims: x, data: await affine(gpu, shape, xt.data, scale, bias, { relu: false }) };
  };
}

function relu(node: OnnxNode, [x]: number[][]): Run {
  attributes(node, []);
  const shape = elementwiseShape(x);
  return async (gpu, [xt]) => ({ dims: x, data: await affine(gpu, shape, xt.data, new Float32Array(shape.c).fill(1), new Float32Array(shape.c), { relu: true }) });
}

function add(node: OnnxNode, [x, y]: number[][]): Run {
  attributes(node, []);
  const same = (p: number[], q: number[]) => p.length === q.length && p.every((d, i) => d === q[i]);
  if (same(x, y)) {
    const shape = elementwiseShape(x);
    const ones = new Float32Array(shape.c).fill(1);
    return async (gpu, [xt, yt]) => ({ dims: x, data: await affine(gpu, shape, xt.data, ones, new Float32Array(shape.c), { relu: false, residual: yt.data }) });
  }
  // One operand that varies along the other's last axis at most is a per-channel bias.
  const isBias = (small: number[], full: number[]) =>
    small.length <= full.length && small.slice(0, -1).every((d) => d === 1) && [1, full[full.length - 1]].includes(small.length ? small[small.length - 1] : 1);
  const fullFirst = isBias(y, x);
  if (!fullFirst && !isBias(x, y)) unsupported(`broadcast of [${y}] with [${x}]: only a bias along the last axis`);
  const [full, small] = fullFirst ? [x, y] : [y, x];
  const last = full[full.length - 1];
  const shape: Shape4 = { n: prod(full.slice(0, -1)), h: 1, w: 1, c: last };
  return async (gpu, inputs) => {
    const [ft, st] = fullFirst ? inputs : [inputs[1], inputs[0]];
    const bias = small.length && small[small.length - 1] === last ? st.data : new Float32Array(last).fill(st.data[0]);
    return { dims: full, data: await affine(gpu, shape, ft.data, new Float32Array(last).fill(1), bias, { relu: false }) };
  };
}

function gemm(node: OnnxNode, [a, b, c]: number[][]): Run {
  const at = attributes(node, ['alpha', 'beta', 'transA', 'transB']);
  if (at.int('transA', 0) !== 0) unsupported('transA=1: A is the activation, read as [batch][in] rows');
  const [m, k] = a;
  const transB = at.int('transB', 0) === 1;
  const n = transB ? b[0] : b[1];
  // C broadcasts to [M][N]; the kernel's bias is one value per output feature.
  if (c && c.length === 2 && c[0] !== 1) unsupported(`bias C [${c}] varies along M: the kernel's bias is per output feature`);
  const alpha = at.float('alpha', 1);
  const beta = at.float('beta', 1);
  const program = new FullyConnectedProgram(m, k, n, 32); // the GPU's split dot products (the CPU adapter's whole ones: kernels.test.ts)
  return async (gpu, [ta, tb, tc]) => {
    // alpha and transB folded into the [out][in] weights, beta into the bias.
    const w = new Float32Array(n * k);
    for (let j = 0; j < n; j++) for (let i = 0; i < k; i++) w[j * k + i] = alpha * tb.data[transB ? j * k + i : i * n + j];
    const bias = new Float32Array(n).map((_, j) => (tc ? beta * tc.data[tc.data.length === 1 ? 0 : j] : 0));
    // The activation as the kernel reads a global pool's output: [m] pixels of k channels, padded to vec4.
    const inputs = [{ activation: nchwToNhwc4(ta.data, { n: m, c: k, h: 1, w: 1 }) }, { weight: packFcWeights(w, [n, k]) }, { weight: bias }];
    return { dims: [m, n], data: await runKernel(gpu, program, inputs, program.outputBytes) };
  };
}

function softmax(node: OnnxNode, [x]: number[][], opset: number): Run {
  const a = attributes(node, ['axis']);
  const rank = x.length;
  const axis = (a.int('axis', opset >= 13 ? -1 : 1) + rank) % rank;
  // Before opset 13 Softmax flattens to [prod(dims[:axis])][prod(dims[axis:])]; from 13 it
  // normalizes along one axis, which is that matrix only for the last axis.
  if (opset >= 13 && axis !== rank - 1) unsupported(`axis ${axis} of rank ${rank}: the kernel normalizes the contiguous last axis`);
  const program = new SoftmaxProgram(prod(x.slice(0, axis)), prod(x.slice(axis)));
  return async (gpu, [xt]) => ({ dims: x, data: await runKernel(gpu, program, [{ activation: xt.data }], program.outputBytes) });
}

const MAPPERS: Record<string, (node: OnnxNode, inputDims: number[][], opset: number) => Run> = {
  Conv: conv,
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalPoolNode,
  GlobalMaxPool: globalPoolNode,
  BatchNormalization: batchNormalization,
  Relu: relu,
  Add: add,
  Gemm: gemm,
  Softmax: softmax,
};

function mapCase(c: OnnxCase, op: string): Mapping {
  if (c.nodes.length !== 1) return { skip: `expanded into ${c.nodes.length} nodes (${[...new Set(c.nodes.map((n) => n.opType))].join(', ')}), not one ${op}` };
  const [node] = c.nodes;
  if (node.opType !== op) return { skip: `op ${node.opType}, not ${op}` };
  // Only the first output is compared: the mappers refuse nodes with more.
  const nonFloat = [...c.inputs, c.outputs[0]].find((v) => v.dataType !== 'FLOAT');
  if (nonFloat) return { skip: `${nonFloat.dataType} tensors: the kernels are float32` };
  // Node inputs name graph inputs; "" marks a left-out optional one (always trailing for these ops).
  const byName = new Map<string, ValueInfo>(c.inputs.map((v) => [v.name, v]));
  const dims = node.inputs.filter(Boolean).map((name) => byName.get(name)!.dims);
  try {
    const run = MAPPERS[op](node, dims, c.opset);
    return {
      run: (gpu, inputs) => run(gpu, node.inputs.filter(Boolean).map((name) => inputs[c.inputs.findIndex((v) => v.name === name)])),
    };
  } catch (e) {
    if (e instanceof Skip) return { skip: e.message };
    throw e;
  }
}

/** Worst element against the tolerance, as a message; undefined when every element is within it. */
function mismatch(actual: Float32Array, expected: Float32Array): string | undefined {
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (ATOL + RTOL * Math.abs(expected[i]));
    const e = Number.isNaN(excess) ? Infinity : excess; // a NaN is the worst mismatch
    if (e > worstExcess) [worst, worstExcess] = [i, e];
  }
  return worst < 0 ? undefined : `element ${worst}: ${actual[worst]} vs expected ${expected[worst]} (rtol ${RTOL}, atol ${ATOL})`;
}

const cases = FAMILIES.flatMap(([prefix, op]) =>
  listCases(prefix)
    .map(readCase)
    .map((c) => ({ case: c, op, mapping: mapCase(c, op) })),
);

const OPS = [...new Set(FAMILIES.map(([, op]) => op))];

for (const op of OPS) {
  describe(op, () => {
    for (const { case: c, mapping } of cases.filter((c) => c.op === op)) {
      if (!('run' in mapping)) continue;
      test(c.name, async () => {
        const gpu = await testGpu();
        const sets = readDataSets(c);
        expect(sets.length).toBeGreaterThan(0);
        for (const set of sets) {
          const y = await mapping.run(gpu, set.inputs);
          const [expected] = set.outputs;
          expect(y.dims).toEqual(expected.dims);
          expect(mismatch(y.data, expected.data)).toBeUndefined();
        }
      });
    }
  });
}

/** The doc's block between `<!-- name:begin -->` and `<!-- name:end -->`. */
function docBlock(doc: string, name: string): string {
  const match = doc.match(new RegExp(`<!-- ${name}:begin -->\\n([\\s\\S]*?)<!-- ${name}:end -->`));
  if (!match) throw new Error(`docs/onnx-conformance.md has no ${name} block`);
  return match[1];
}

describe('docs/onnx-conformance.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'onnx-conformance.md'), 'utf8');

  test('per-op counts match the suite', () => {
    const rows = OPS.map((op) => {
      const group = cases.filter((c) => c.op === op);
      const run = group.filter((c) => 'run' in c.mapping).length;
      return `| ${op} | ${group.length} | ${run} | ${group.length - run} |\n`;
    });
    const total = cases.filter((c) => 'run' in c.mapping).length;
    const table = `| Op | Cases | Passed | Skipped |\n|---|---:|---:|---:|\n${rows.join('')}| **Total** | ${cases.length} | ${total} | ${cases.length - total} |\n`;
    expect(cases.length, `no ONNX node tests found: is libonnx-testdata installed?`).toBeGreaterThan(0);
    expect(docBlock(doc, 'counts')).toBe(table);
  });

  test('skipped cases and reasons match the suite', () => {
    const rows = cases.flatMap((c) => ('skip' in c.mapping ? [`| \`${c.case.name}\` | ${c.op} | ${c.mapping.skip} |\n`] : []));
    expect(docBlock(doc, 'skipped')).toBe(`| Case | Op | Reason |\n|---|---|---|\n${rows.join('')}`);
  });
});
