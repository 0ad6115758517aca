// onnx-proto is CommonJS whose export Node's ESM loader cannot see by name: take the default.
import onnxProto, { type onnx as proto } from 'onnx-proto';
import { WeightsError } from '../../runtime/errors';
import type { ReadFile } from '../load';
import { ARCHITECTURES, describeResNet, TORCHVISION_STEM, type BlockKind, type ResNetConfig, type StemConfig } from '../resnet';
import { decodeFloats, elementCount, type PreparedWeights, type TensorMap } from '../tensors';

const { onnx } = onnxProto;

/**
 * ONNX graphs of ResNets (as torch.onnx.export writes them, BatchNorm folded into Conv or kept),
 * mapped onto the engine's ResNet definition: the graph is walked from its input, stem, blocks
 * (post- or pre-activation; identity or 1×1-projection shortcuts), pooling and classifier, each
 * convolution with the BatchNorm and ReLU that follow it. The first node that does not fit the
 * pattern is named in the error. Initializers may live in external data files.
 */

interface Node {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, number | number[] | string>;
}

/** A convolution with what folds into its epilogue, or a standalone BatchNorm (pre-activation), or the classifier. */
interface Unit {
  kind: 'conv' | 'batchnorm' | 'linear';
  node: Node;
  /** OIHW conv weight or [out][in] linear weight; absent for a standalone BatchNorm. */
  weight?: { shape: number[]; data: Float32Array };
  scale: Float32Array;
  bias: Float32Array;
  kernel: number;
  stride: number;
  pad: number;
  relu: boolean;
}

interface Block {
  /** Pre-activation BatchNorm, projection shortcut (either may be absent), then the main convolutions. */
  preact?: Unit;
  shortcut?: Unit;
  /** A parameter-free (option A) shortcut: subsample or average pool, then zero channels before/after. */
  optionA?: { node: Node; kind: 'subsample' | 'avgpool'; stride: number; before: number; after: number };
  convs: Unit[];
}

/** A constant integer tensor, as the small shape computations around Pad produce. */
interface Ints {
  shape: number[];
  data: number[];
}

const num = (v: number | { toNumber(): number }): number => (typeof v === 'number' ? v : v.toNumber());

function attributeValue(a: proto.IAttributeProto): number | number[] | string {
  const A = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case A.FLOAT:
      return a.f ?? 0;
    case A.INT:
      return num(a.i ?? 0);
    case A.INTS:
      return (a.ints ?? []).map(num);
    case A.FLOATS:
      return [...(a.floats ?? [])];
    case A.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    default:
      return `(${A[a.type ?? 0]})`;
  }
}
const MAX_EXTERNAL_BYTES = 2 ** 31;

export async function readOnnx(bytes: Uint8Array, file: string, read: ReadFile): Promise<PreparedWeights> {
  let model: proto.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new WeightsError(file, `not a readable ONNX model (${(e as Error).message})`);
  }
  const graph = model.graph;
  if (!graph) throw new WeightsError(file, 'the ONNX model has no graph');
  const tensors = await loadInitializers(graph, file, read);
  return new GraphWalker(graph, tensors, file).walk();
}

/** Every initializer (and Constant node value) as raw proto, with external data resolved to bytes. */
async function loadInitializers(graph: proto.IGraphProto, file: string, read: ReadFile): Promise<Map<string, { t: proto.ITensorProto; raw?: Uint8Array }>> {
  const out = new Map<string, { t: proto.ITensorProto; raw?: Uint8Array }>();
  const files = new Map<string, Promise<Uint8Array>>();
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) {
      out.set(name, { t });
      continue;
    }
    const info = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = info.get('location') ?? '';
    if (!location || /(^|[\\/])\.\.([\\/]|$)|^[\\/]|^[a-z]+:/i.test(location)) throw new WeightsError(file, `external data location ${JSON.stringify(location)} must be a relative path inside the model folder`, name);
    const offset = Number(info.get('offset') ?? 0);
    const expected = elementCount((t.dims ?? []).map(num)) * (ELEMENT_BYTES[t.dataType ?? 0] ?? 0);
    const length = info.has('length') ? Number(info.get('length')) : expected;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || length > MAX_EXTERNAL_BYTES) {
      throw new WeightsError(file, `external data offset ${info.get('offset')} / length ${info.get('length')} are not byte counts`, name);
    }
    if (!files.has(location)) files.set(location, read(location));
    const data = await files.get(location)!;
    if (offset + length > data.byteLength) throw new WeightsError(location, `bytes [${offset}, ${offset + length}) lie outside the ${data.byteLength}-byte file (truncated?)`, name);
    out.set(name, { t, raw: data.subarray(offset, offset + length) });
  }
  for (const n of graph.node ?? []) {
    if (n.opType === 'Constant') {
      const value = n.attribute?.find((a) => a.name === 'value')?.t;
      if (value && n.output?.[0]) out.set(n.output[0], { t: value });
    }
  }
  return out;
}

const T = onnx.TensorProto.DataType;
const OPTION_A_OPS = ['Slice', 'AveragePool', 'Pad'];

/** An INT64/INT32 tensor's values as numbers (INT64's extremes, the "to the end" of Slice, become ±2^63 approximately). */
function intsOf(t: proto.ITensorProto, raw?: Uint8Array): Ints {
  const shape = (t.dims ?? []).map(num);
  const bytes = raw ?? t.rawData;
  let data: number[];
  if (bytes?.length) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    data = t.dataType === T.INT32 ? Array.from({ length: bytes.length / 4 }, (_, i) => view.getInt32(4 * i, true)) : Array.from({ length: bytes.length / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)));
  } else data = (t.dataType === T.INT32 ? (t.int32Data ?? []) : (t.int64Data ?? [])).map(num);
  return { shape, data };
}
const ELEMENT_BYTES: Record<number, number> = { [T.FLOAT]: 4, [T.FLOAT16]: 2, [T.BFLOAT16]: 2, [T.DOUBLE]: 8, [T.INT64]: 8, [T.INT32]: 4 };

class GraphWalker {
  private readonly producers = new Map<string, Node>();
  private readonly consumers = new Map<string, Node[]>();
  private readonly nodes: Node[];

  constructor(
    private readonly graph: proto.IGraphProto,
    private readonly initializers: Map<string, { t: proto.ITensorProto; raw?: Uint8Array }>,
    private readonly file: string,
  ) {
    this.nodes = (graph.node ?? [])
      .filter((n) => n.opType !== 'Constant')
      .map((n, i) => ({
        name: n.name || `#${i} (${n.opType})`,
        opType: n.opType ?? '',
        inputs: n.input ?? [],
        outputs: n.output ?? [],
        attrs: new Map((n.attribute ?? []).map((a) => [a.name ?? '', attributeValue(a)])),
      }));
    // Identity nodes are looked through: their output is their input.
    const alias = new Map<string, string>();
    for (const n of this.nodes) if (n.opType === 'Identity') alias.set(n.outputs[0], alias.get(n.inputs[0]) ?? n.inputs[0]);
    for (const n of this.nodes) {
      if (n.opType === 'Identity') continue;
      n.inputs = n.inputs.map((i) => alias.get(i) ?? i);
      for (const o of n.outputs) this.producers.set(o, n);
      // Shape reads only a tensor's dims (for a Reshape's target, as `x.view(x.size(0), -1)` exports): not a reader of its values.
      if (n.opType === 'Shape') continue;
      for (const i of n.inputs) if (i) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
    }
  }

  private fail(node: Node | undefined, message: string, tensor?: string): never {
    // A damaged graph can lack the node a check expected (a pooling with no producer, …).
    throw new WeightsError(this.file, `${node ? `node "${node.name}" (${node.opType})` : 'the graph'} does not fit a ResNet: ${message}`, tensor);
  }

  /** The nodes reading `value`. */
  private users(value: string): Node[] {
    return this.consumers.get(value) ?? [];
  }

  /** The one node reading `value`, which must be one of `ops`. */
  private only(value: string, ops: string[], after: Node): Node {
    const users = this.users(value);
    if (users.length !== 1) this.fail(after, `its output feeds ${users.length} nodes (${users.map((u) => u.opType).join(', ') || 'none'}), expected one ${ops.join(' or ')}`);
    if (!ops.includes(users[0].opType)) this.fail(users[0], `expected ${ops.join(' or ')} after "${after.name}"`);
    return users[0];
  }

  /** An initializer as float32, with its dims. */
  private tensor(name: string, node: Node): { shape: number[]; data: Float32Array } {
    const entry = this.initializers.get(name);
    if (!entry) this.fail(node, `input ${JSON.stringify(name)} is not an initializer (weights must be constants)`, name);
    const { t, raw } = entry!;
    const shape = (t.dims ?? []).map(num);
    const count = elementCount(shape);
    const type = t.dataType ?? 0;
    const bytes = raw ?? t.rawData;
    const dtype = ({ [T.FLOAT]: 'f32', [T.FLOAT16]: 'f16', [T.BFLOAT16]: 'bf16', [T.DOUBLE]: 'f64' } as const)[type];
    if (!dtype) this.fail(node, `initializer of type ${T[type] ?? type}, not a float`, name);
    if (bytes?.length) {
      if (bytes.length !== count * ELEMENT_BYTES[type]) this.fail(node, `dims [${shape}] as ${T[type]} need ${count * ELEMENT_BYTES[type]} bytes, the data has ${bytes.length}`, name);
      return { shape, data: decodeFloats(bytes, dtype!) };
    }
    const values = type === T.FLOAT ? t.floatData : type === T.DOUBLE ? t.doubleData : undefined;
    if (values) {
      if (values.length !== count) this.fail(node, `dims [${shape}] need ${count} values, the tensor has ${values.length}`, name);
      return { shape, data: Float32Array.from(values) };
    }
    // float16 and bfloat16 without raw_data keep their bits in int32_data.
    const bits = t.int32Data ?? [];
    if (bits.length !== count) this.fail(node, `dims [${shape}] need ${count} values, the tensor has ${bits.length}`, name);
    return { shape, data: decodeFloats(new Uint8Array(Uint16Array.from(bits).buffer), dtype!) };
  }

  /** An attribute, of the fallback's kind (a list of ints where ints are expected, …): a file may say anything. */
  private attr(node: Node, name: string, fallback: number | number[] | string): number | number[] | string {
    const value = node.attrs.get(name) ?? fallback;
    if (Array.isArray(fallback) ? !Array.isArray(value) : typeof value !== typeof fallback) this.fail(node, `attribute ${name} is ${JSON.stringify(value)}, expected a ${Array.isArray(fallback) ? 'list' : typeof fallback}`);
    return value;
  }

  /** Fold a BatchNormalization node into y = x·scale + bias, `bias` starting from a conv's bias. */
  private batchNorm(bn: Node, channels: number, convBias?: Float32Array): { scale: Float32Array; bias: Float32Array } {
    const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map((i) => {
      const t = this.tensor(i, bn);
      if (t.shape.join() !== String(channels)) this.fail(bn, `expected shape [${channels}], got [${t.shape}]`, i);
      return t.data;
    });
    if (bn.outputs.filter(Boolean).length !== 1 || this.attr(bn, 'training_mode', 0) !== 0) this.fail(bn, 'BatchNormalization in training mode');
    const eps = this.attr(bn, 'epsilon', 1e-5) as number;
    const scale = new Float32Array(channels);
    const bias = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      scale[c] = gamma[c] / Math.sqrt(variance[c] + eps);
      bias[c] = beta[c] + ((convBias?.[c] ?? 0) - mean[c]) * scale[c];
    }
    return { scale, bias };
  }

  /** A Conv, then (each only if it is the conv's sole reader) a BatchNormalization and a Relu. Returns the unit and its output value. */
  private convUnit(conv: Node): { unit: Unit; out: string } {
    const weight = this.tensor(conv.inputs[1], conv);
    const [outC, , kh, kw] = weight.shape;
    if (weight.shape.length !== 4 || kh !== kw) this.fail(conv, `weight dims [${weight.shape}] are not a square 2-D kernel`, conv.inputs[1]);
    const pads = this.attr(conv, 'pads', [0, 0, 0, 0]) as number[];
    const strides = this.attr(conv, 'strides', [1, 1]) as number[];
    const dilations = this.attr(conv, 'dilations', [1, 1]) as number[];
    if (this.attr(conv, 'group', 1) !== 1) this.fail(conv, 'grouped convolution');
    if (dilations.some((d) => d !== 1)) this.fail(conv, `dilations [${dilations}]`);
    if (strides[0] !== strides[1]) this.fail(conv, `strides [${strides}] differ by axis`);
    if (pads.some((p) => p !== pads[0])) this.fail(conv, `pads [${pads}] are not the same on every side`);
    if (this.attr(conv, 'auto_pad', 'NOTSET') !== 'NOTSET') this.fail(conv, `auto_pad ${this.attr(conv, 'auto_pad', '')}: only explicit pads`);
    const convBias = conv.inputs[2] ? this.tensor(conv.inputs[2], conv).data : undefined;
    let out = conv.outputs[0];
    let scale: Float32Array = new Float32Array(outC).fill(1);
    let bias: Float32Array = convBias ? Float32Array.from(convBias) : new Float32Array(outC);
    const next = this.users(out);
    if (next.length === 1 && next[0].opType === 'BatchNormalization') {
      ({ scale, bias } = this.batchNorm(next[0], outC, convBias));
      out = next[0].outputs[0];
    }
    const after = this.users(out);
    const relu = after.length === 1 && after[0].opType === 'Relu';
    if (relu) out = after[0].outputs[0];
    return { unit: { kind: 'conv', node: conv, weight, scale, bias, kernel: kh, stride: strides[0], pad: pads[0], relu }, out };
  }

  /** A standalone BatchNormalization followed by a Relu (pre-activation). */
  private preactUnit(bn: Node): { unit: Unit; out: string } {
    const channels = this.tensor(bn.inputs[1], bn).shape[0];
    const { scale, bias } = this.batchNorm(bn, channels);
    const relu = this.only(bn.outputs[0], ['Relu'], bn);
    return { unit: { kind: 'batchnorm', node: bn, scale, bias, kernel: 0, stride: 1, pad: 0, relu: true }, out: relu.outputs[0] };
  }

  walk(): PreparedWeights {
    const inputs = (this.graph.input ?? []).filter((i) => !this.initializers.has(i.name ?? ''));
    if (inputs.length !== 1) throw new WeightsError(this.file, `the graph has ${inputs.length} non-constant inputs; a ResNet has one image input`);
    const input = inputs[0].name ?? '';
    const first = this.users(input);
    if (first.length !== 1 || first[0].opType !== 'Conv') {
      if (first[0]) this.fail(first[0], `a ResNet starts with one Conv reading the input "${input}"`);
      throw new WeightsError(this.file, `nothing reads the graph input "${input}"`);
    }
    const stem = this.convUnit(first[0]);
    let x = stem.out;
    let pool: StemConfig['pool'];
    const afterStem = this.users(x);
    if (afterStem.length === 1 && afterStem[0].opType === 'MaxPool') {
      const mp = afterStem[0];
      const k = this.attr(mp, 'kernel_shape', []) as number[];
      const s = this.attr(mp, 'strides', [1, 1]) as number[];
      const p = this.attr(mp, 'pads', [0, 0, 0, 0]) as number[];
      if (k[0] !== k[1] || s[0] !== s[1] || p.some((v) => v !== p[0]) || this.attr(mp, 'ceil_mode', 0) !== 0 || this.attr(mp, 'auto_pad', 'NOTSET') !== 'NOTSET') this.fail(mp, `kernel [${k}], strides [${s}], pads [${p}]: only square, evenly padded, floor-mode pooling`);
      pool = { kernel: k[0], stride: s[0], pad: p[0] };
      x = mp.outputs[0];
    }

    const blocks: Block[] = [];
    let norm: Unit | undefined;
    let pooled: Node | undefined;
    for (;;) {
      const users = this.users(x);
      const pooling = users.find((u) => u.opType === 'GlobalAveragePool' || u.opType === 'ReduceMean');
      if (pooling && users.length === 1) {
        pooled = pooling;
        break;
      }
      const bn = users.find((u) => u.opType === 'BatchNormalization');
      let preact: { unit: Unit; out: string } | undefined;
      if (bn) {
        preact = this.preactUnit(bn);
        const next = this.users(preact.out);
        if (next.length === 1 && (next[0].opType === 'GlobalAveragePool' || next[0].opType === 'ReduceMean')) {
          if (users.length !== 1) this.fail(bn, 'the last BatchNorm+ReLU must be the only reader of the last block');
          norm = preact.unit;
          pooled = next[0];
          break;
        }
      }
      const block = this.block(x, preact);
      blocks.push(block.block);
      x = block.out;
    }
    if (blocks.length === 0) this.fail(pooled!, 'no residual blocks before the pooling');
    const fc = this.classifier(pooled!);
    const config = this.configFor(stem.unit, pool, blocks, norm !== undefined, fc);
    return this.prepare(config, [stem.unit, ...blocks.flatMap((b) => [b.preact, b.shortcut, ...b.convs].filter((u): u is Unit => u !== undefined)), ...(norm ? [norm] : []), fc]);
  }

  /** One residual block from its input `x`: main convolutions ending in an Add with the shortcut (x, or a projection of x or of its pre-activation). */
  private block(x: string, preact?: { unit: Unit; out: string }): { block: Block; out: string } {
    const from = preact?.out ?? x;
    const convs = this.users(from).filter((u) => u.opType === 'Conv');
    // Option A reads the block's input itself, before any pre-activation.
    const head = this.users(x).find((u) => OPTION_A_OPS.includes(u.opType));
    const optionA = head ? this.optionA(head) : undefined;
    const others = this.users(from).filter((u) => u.opType !== 'Conv' && !(u.opType === 'Add' && !preact) && u !== preact?.unit.node && u !== head);
    if (others.length) this.fail(others[0], `expected a Conv or Add reading the block input "${from}"`);
    let main: { unit: Unit; out: string } | undefined;
    let shortcut: { unit: Unit; out: string } | undefined;
    for (const c of convs) {
      const unit = this.convUnit(c);
      const next = this.users(unit.out);
      if (next.length === 1 && next[0].opType === 'Add') {
        if (shortcut) this.fail(c, 'a second shortcut convolution');
        shortcut = unit;
      } else {
        if (main) this.fail(c, 'a second branch of convolutions');
        main = unit;
      }
    }
    if (!main) this.fail(convs[0] ?? this.users(from)[0] ?? this.producers.get(from)!, 'no chain of convolutions starts from the block input');
    const chain = [main!];
    for (;;) {
      const next = this.users(chain[chain.length - 1].out);
      if (next.length !== 1) this.fail(chain[chain.length - 1].unit.node, `its output feeds ${next.length} nodes, expected one Conv or Add`);
      if (next[0].opType === 'Add') break;
      if (next[0].opType !== 'Conv') this.fail(next[0], 'expected a Conv or the residual Add');
      chain.push(this.convUnit(next[0]));
    }
    const last = chain[chain.length - 1];
    const add = this.users(last.out)[0];
    const other = add.inputs.find((i) => i !== last.out);
    const sum = optionA?.out ?? shortcut?.out ?? x;
    if (optionA && shortcut) this.fail(shortcut.unit.node, 'a block with both a projection and a parameter-free shortcut');
    if (add.inputs.length !== 2 || other !== sum) this.fail(add, `expected the sum of "${last.out}" and the shortcut "${sum}"`);
    if (chain.length !== 2 && chain.length !== 3) this.fail(add, `${chain.length} convolutions on the main path: a basic block has 2, a bottleneck 3`);
    let out = add.outputs[0];
    if (!preact) out = this.only(out, ['Relu'], add).outputs[0];
    return { block: { preact: preact?.unit, shortcut: shortcut?.unit, optionA: optionA?.shortcut, convs: chain.map((c) => c.unit) }, out };
  }

  /**
   * An option-A shortcut from its first node: Slice(s) taking every stride-th row and column, or an
   * AveragePool, then a Pad adding zero channels (its pads may be computed by a few constant ops,
   * as torch.onnx.export writes F.pad).
   */
  private optionA(head: Node): { shortcut: NonNullable<Block['optionA']>; out: string } {
    let node = head;
    let kind: 'subsample' | 'avgpool' = 'subsample';
    const strides = [1, 1];
    while (node.opType === 'Slice' || node.opType === 'AveragePool') {
      if (node.opType === 'AveragePool') {
        const k = this.attr(node, 'kernel_shape', []) as number[];
        const st = this.attr(node, 'strides', [1, 1]) as number[];
        const p = this.attr(node, 'pads', [0, 0, 0, 0]) as number[];
        if (k.join() !== st.join() || p.some((v) => v !== 0) || this.attr(node, 'ceil_mode', 0) !== 0) this.fail(node, `an average-pool shortcut must pool k×k windows with stride k and no padding, got kernel [${k}], strides [${st}], pads [${p}]`);
        kind = 'avgpool';
        strides.splice(0, 2, k[0] * strides[0], k[1] * strides[1]);
      } else {
        const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => (node.inputs[i] ? this.ints(node.inputs[i], node).data : undefined));
        (axes ?? starts!.map((_, i) => i)).forEach((axis, i) => {
          const step = steps?.[i] ?? 1;
          if ((axis !== 2 && axis !== 3) || starts![i] !== 0 || ends![i] < 2 ** 31 - 1 || step < 1) this.fail(node, `a subsampling shortcut must take every k-th row or column from the first, got axis ${axis}, start ${starts![i]}, end ${ends![i]}, step ${step}`);
          strides[axis - 2] *= step;
        });
      }
      node = this.only(node.outputs[0], ['Slice', 'AveragePool', 'Pad'], node);
    }
    if (node.opType !== 'Pad') this.fail(node, 'a parameter-free shortcut ends in a Pad adding channels');
    if (this.attr(node, 'mode', 'constant') !== 'constant') this.fail(node, `Pad mode ${this.attr(node, 'mode', '')}`);
    if (node.inputs[2] && this.initializers.has(node.inputs[2]) && this.tensor(node.inputs[2], node).data.some((v) => v !== 0)) this.fail(node, 'Pad with a non-zero value');
    const pads = node.inputs[1] ? this.ints(node.inputs[1], node).data : (this.attr(node, 'pads', []) as number[]);
    const [nb, before, hb, wb, ne, after, he, we] = pads;
    if (pads.length !== 8 || [nb, hb, wb, ne, he, we].some((v) => v !== 0) || before < 0 || after < 0) this.fail(node, `pads [${pads}]: a shortcut may only add channels`);
    if (strides[0] !== strides[1]) this.fail(node, `the shortcut strides ${strides[0]}×${strides[1]}`);
    const add = this.only(node.outputs[0], ['Add'], node);
    return { shortcut: { node: add, kind, stride: strides[0], before, after }, out: node.outputs[0] };
  }

  /** An integer tensor that constant nodes compute (Constant, ConstantOfShape, Concat, Reshape, Slice, Transpose, Cast, Unsqueeze). */
  private ints(value: string, reader: Node, depth = 0): Ints {
    const entry = this.initializers.get(value);
    if (entry) return intsOf(entry.t, entry.raw);
    const node = this.producers.get(value);
    if (!node || depth > 32) this.fail(reader, `input "${value}" is not a constant`);
    const arg = (i: number): Ints => this.ints(node!.inputs[i], node!, depth + 1);
    switch (node!.opType) {
      case 'Cast':
        return arg(0);
      case 'ConstantOfShape': {
        const shape = arg(0).data;
        const fill = node!.attrs.get('value');
        if (elementCount(shape) > 1024) this.fail(node!, `a constant of shape [${shape}]`);
        return { shape, data: new Array(elementCount(shape)).fill(typeof fill === 'number' ? fill : 0) };
      }
      case 'Concat': {
        const parts = node!.inputs.map((_, i) => arg(i));
        if (parts.some((p) => p.shape.length !== 1)) this.fail(node!, 'Concat of constants other than vectors');
        const data = parts.flatMap((p) => p.data);
        return { shape: [data.length], data };
      }
      case 'Reshape':
      case 'Unsqueeze': {
        const t = arg(0);
        if (node!.opType === 'Unsqueeze') return { shape: [t.data.length, 1], data: t.data };
        const target = arg(1).data;
        const known = target.reduce((a, d) => (d > 0 ? a * d : a), 1);
        return { shape: target.map((d, i) => (d === -1 ? t.data.length / known : d === 0 ? t.shape[i] : d)), data: t.data };
      }
      case 'Transpose': {
        const t = arg(0);
        if (t.shape.length !== 2) this.fail(node!, 'Transpose of a constant that is not a matrix');
        const [r, c] = t.shape;
        return { shape: [c, r], data: Array.from({ length: r * c }, (_, i) => t.data[(i % r) * c + Math.floor(i / r)]) };
      }
      case 'Slice': {
        // Along the first axis only, as F.pad's export reverses the rows of its pads matrix.
        const t = arg(0);
        const [start, end, axis, step] = [1, 2, 3, 4].map((i) => (node!.inputs[i] ? arg(i).data[0] : i === 3 ? 0 : 1));
        if (axis !== 0 || t.shape.length < 1) this.fail(node!, 'Slice of a constant along another axis than the first');
        const rows = t.shape[0];
        const row = t.data.length / rows;
        const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v < 0 ? v + rows : v, lo), hi);
        const picked: number[] = [];
        if (step > 0) for (let i = clamp(start, 0, rows); i < clamp(end, 0, rows); i += step) picked.push(i);
        else for (let i = clamp(start, -1, rows - 1); i > clamp(end, -1, rows - 1); i += step) picked.push(i);
        return { shape: [picked.length, ...t.shape.slice(1)], data: picked.flatMap((i) => t.data.slice(i * row, (i + 1) * row)) };
      }
      default:
        return this.fail(node!, `computes "${value}", which must be a constant`);
    }
  }

  /** Flatten/Reshape/Squeeze (optional), then Gemm or MatMul (+ Add) writing a graph output. */
  private classifier(pool: Node): Unit {
    if (pool.opType === 'ReduceMean') {
      const axes = this.attr(pool, 'axes', []) as number[];
      if (axes.slice().sort().join() !== '2,3') this.fail(pool, `ReduceMean over axes [${axes}], expected [2, 3]`);
    }
    let node = this.only(pool.outputs[0], ['Flatten', 'Reshape', 'Squeeze', 'Gemm', 'MatMul'], pool);
    if (node.opType !== 'Gemm' && node.opType !== 'MatMul') node = this.only(node.outputs[0], ['Gemm', 'MatMul'], node);
    const w = this.tensor(node.inputs[1], node);
    let weight = w;
    let biasName: string | undefined = node.inputs[2];
    let out = node.outputs[0];
    // ONNX's Gemm computes x·Bᵀ with transB=1 (PyTorch's Linear), x·B without; MatMul always x·B.
    const transposed = node.opType === 'Gemm' && this.attr(node, 'transB', 0) === 1;
    if (node.opType === 'Gemm' && (this.attr(node, 'transA', 0) !== 0 || this.attr(node, 'alpha', 1) !== 1 || this.attr(node, 'beta', 1) !== 1)) this.fail(node, 'Gemm with transA, alpha or beta');
    if (!transposed) {
      const [inF, outF] = w.shape;
      const data = new Float32Array(w.data.length);
      for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) data[o * inF + i] = w.data[i * outF + o];
      weight = { shape: [outF, inF], data };
    }
    if (node.opType === 'MatMul') {
      const add = this.users(out);
      if (add.length === 1 && add[0].opType === 'Add') {
        biasName = add[0].inputs.find((i) => i !== out);
        out = add[0].outputs[0];
      }
    }
    const outF = weight.shape[0];
    const bias = biasName ? this.tensor(biasName, node).data : new Float32Array(outF);
    if (bias.length !== outF) this.fail(node, `bias of ${bias.length} values for ${outF} outputs`, biasName);
    if (!(this.graph.output ?? []).some((o) => o.name === out)) this.fail(node, `its output "${out}" is not the graph's output (the logits)`);
    return { kind: 'linear', node, weight, scale: new Float32Array(0), bias, kernel: 0, stride: 1, pad: 0, relu: false };
  }

  /** The config the parsed blocks describe: a stage starts where a block strides or changes width. */
  private configFor(stem: Unit, pool: StemConfig['pool'], blocks: Block[], preActivation: boolean, fc: Unit): ResNetConfig {
    const kinds = new Set(blocks.map((b) => b.convs.length));
    if (kinds.size !== 1) this.fail(blocks.find((b) => b.convs.length !== blocks[0].convs.length)!.convs[0].node, 'basic and bottleneck blocks mixed');
    const block: BlockKind = blocks[0].convs.length === 2 ? 'basic' : 'bottleneck';
    const strideOf = (b: Block): number => Math.max(...b.convs.map((c) => c.stride));
    const v1 = block === 'bottleneck' && blocks.some((b) => b.convs[0].stride > 1);
    const layers: number[] = [];
    const widths: number[] = [];
    const strides: number[][] = [];
    blocks.forEach((b, i) => {
      const planes = b.convs[0].weight!.shape[0];
      if (i === 0 || strideOf(b) > 1 || planes !== widths[widths.length - 1]) {
        layers.push(0);
        widths.push(planes);
        strides.push([]);
      }
      layers[layers.length - 1]++;
      strides[strides.length - 1].push(strideOf(b));
    });
    const stemConfig: StemConfig = { kernel: stem.kernel, stride: stem.stride, pad: stem.pad, ...(pool ? { pool } : {}) };
    const depth = 2 + (block === 'basic' ? 2 : 3) * layers.reduce((a, b) => a + b, 0);
    const known = Object.entries(ARCHITECTURES).find(([, a]) => a.block === block && a.layers.join() === layers.join())?.[0];
    const config: ResNetConfig = {
      arch: `${preActivation ? 'preact-' : ''}${known ?? `resnet${depth}`}`,
      block,
      layers,
      widths,
      stemWidth: stem.weight!.shape[0],
      numClasses: fc.weight!.shape[0],
      variant: v1 ? 'v1' : 'v1.5',
      inputChannels: stem.weight!.shape[1],
    };
    if (JSON.stringify(stemConfig) !== JSON.stringify(TORCHVISION_STEM)) config.stem = stemConfig;
    if (preActivation) config.preActivation = true;
    const optionA = blocks.filter((b) => b.optionA);
    if (optionA.length) {
      const projection = blocks.find((b) => b.shortcut);
      if (projection) this.fail(projection.shortcut!.node, 'projection and parameter-free shortcuts mixed in one network');
      const first = optionA[0].optionA!;
      const padding = first.before === 0 ? 'after' : 'both';
      for (const b of optionA) {
        const a = b.optionA!;
        const [inC, outC] = [b.convs[0].weight!.shape[1], b.convs[b.convs.length - 1].weight!.shape[0]];
        if (a.kind !== first.kind) this.fail(a.node, `${a.kind} and ${first.kind} shortcuts mixed in one network`);
        if (a.stride !== strideOf(b)) this.fail(a.node, `the shortcut strides ${a.stride}, the block ${strideOf(b)}`);
        if (a.before + a.after !== outC - inC) this.fail(a.node, `${a.before} + ${a.after} zero channels do not take ${inC} channels to ${outC}`);
        if ((padding === 'after' ? a.before !== 0 : a.before !== a.after) || (padding === 'both' && a.before === 0)) this.fail(a.node, `zero channels ${a.before} before and ${a.after} after: only all after, or half on each side`);
      }
      config.shortcut = first.kind;
      if (padding === 'both') config.shortcutPadding = 'both';
    }
    if (strides.some((s, stage) => s.some((v, b) => v !== (b === 0 && stage > 0 ? 2 : 1)))) config.blockStrides = strides;
    return config;
  }

  /** Pair the parsed units with the config's layer ops, checking each, and name the tensors as the engine reads them. */
  private prepare(config: ResNetConfig, units: Unit[]): PreparedWeights {
    const tensors: TensorMap = new Map();
    let next = 0;
    for (const op of describeResNet(config)) {
      if (op.op !== 'conv' && op.op !== 'batchnorm' && op.op !== 'linear') continue;
      const unit = units[next++];
      if (!unit || unit.kind !== op.op) throw new WeightsError(this.file, `the graph's layers do not line up with ${config.arch}'s at ${op.name}${unit ? ` (node "${unit.node.name}")` : ''}`);
      if (op.op === 'conv') {
        const expected = [op.outChannels, op.inChannels, op.kernel, op.kernel];
        if (unit.weight!.shape.join() !== expected.join()) this.fail(unit.node, `weight dims [${unit.weight!.shape}], ${config.arch} has [${expected}] at ${op.name}`, unit.node.inputs[1]);
        if (unit.stride !== op.stride || unit.pad !== op.pad) this.fail(unit.node, `stride ${unit.stride} and pad ${unit.pad}, ${config.arch} has ${op.stride} and ${op.pad} at ${op.name}`);
        // A block's last convolution has its ReLU (if any) after the sum, which block() checked.
        const relu = op.residual === undefined && op.relu;
        if (unit.relu !== relu) this.fail(unit.node, `${unit.relu ? 'a' : 'no'} ReLU after it, ${config.arch} has ${relu ? 'one' : 'none'} at ${op.name}`);
        tensors.set(`${op.name}.weight`, unit.weight!);
      } else if (op.op === 'linear') {
        if (unit.weight!.shape.join() !== [op.outFeatures, op.inFeatures].join()) this.fail(unit.node, `weight [${unit.weight!.shape}] for ${op.inFeatures} features`);
        tensors.set(`${op.name}.weight`, unit.weight!);
        tensors.set(`${op.name}.bias`, { shape: [op.outFeatures], data: unit.bias });
        continue;
      } else if (unit.scale.length !== op.channels) this.fail(unit.node, `${unit.scale.length} channels, ${config.arch} has ${op.channels} at ${op.name}`);
      tensors.set(`${op.name}.scale`, { shape: [unit.scale.length], data: unit.scale });
      tensors.set(`${op.name}.bias`, { shape: [unit.bias.length], data: unit.bias });
    }
    if (next !== units.length) this.fail(units[next].node, `${config.arch} has no layer for it`);
    return { config, tensors, meta: {} };
  }
}
