import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
// onnx-proto is CommonJS whose export Node's ESM loader cannot see by name: take the default.
import onnxProto, { type onnx as proto } from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX's backend node tests as Debian's libonnx-testdata installs them. */
export const ONNX_NODE_TESTS = '/usr/share/libonnx-testdata/data/node';

export interface Tensor {
  dims: number[];
  data: Float32Array;
}

/** A graph input or output as the model declares it; `dataType` is TensorProto.DataType's name. */
export interface ValueInfo {
  name: string;
  dataType: string;
  dims: number[];
}

/** Tensor-valued attributes (Constant's value) keep only their type: no mapped op reads one. */
export type AttributeValue = number | string | number[] | { dataType: string; dims: number[] };

export interface OnnxNode {
  opType: string;
  /** Names, "" where an optional input or output is left out. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, AttributeValue>;
}

export interface OnnxCase {
  name: string;
  dir: string;
  /** Version of the default (ai.onnx) opset the model imports. */
  opset: number;
  nodes: OnnxNode[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

/** protobufjs gives int64 fields as number or Long. */
const num = (v: number | { toNumber(): number }): number => (typeof v === 'number' ? v : v.toNumber());

const dataTypeName = (t: number): string => onnx.TensorProto.DataType[t] ?? `type ${t}`;

function decodeTensor(t: proto.ITensorProto): Tensor {
  const dataType = t.dataType ?? 0;
  if (dataType !== onnx.TensorProto.DataType.FLOAT) throw new Error(`tensor ${t.name}: ${dataTypeName(dataType)} is not decoded`);
  const dims = (t.dims ?? []).map(num);
  // Values come either packed little-endian in raw_data or one by one in float_data.
  const raw = t.rawData;
  const data = raw?.length ? new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) : Float32Array.from(t.floatData ?? []);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`tensor ${t.name}: ${data.length} values for dims [${dims}]`);
  return { dims, data };
}

function decodeAttribute(a: proto.IAttributeProto): AttributeValue {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.FLOAT:
      return a.f ?? 0;
    case T.INT:
      return num(a.i ?? 0);
    case T.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case T.FLOATS:
      return [...(a.floats ?? [])];
    case T.INTS:
      return (a.ints ?? []).map(num);
    case T.TENSOR:
      return { dataType: dataTypeName(a.t?.dataType ?? 0), dims: (a.t?.dims ?? []).map(num) };
    default:
      throw new Error(`attribute ${a.name}: kind ${T[a.type ?? 0]} is not decoded`);
  }
}

function valueInfo(v: proto.IValueInfoProto): ValueInfo {
  const t = v.type?.tensorType;
  if (!t) throw new Error(`${v.name}: not a tensor`);
  return { name: v.name ?? '', dataType: dataTypeName(t.elemType ?? 0), dims: (t.shape?.dim ?? []).map((d) => num(d.dimValue ?? 0)) };
}

/** The model of one case directory: its nodes and declared inputs and outputs (no tensor data). */
export function readCase(dir: string): OnnxCase {
  const model = onnx.ModelProto.decode(readFileSync(join(dir, 'model.onnx')));
  const graph = model.graph;
  if (!graph) throw new Error(`${dir}: model has no graph`);
  // Initializers would be inputs without data files; the node tests feed everything as inputs.
  if (graph.initializer?.length) throw new Error(`${dir}: initializers are not read`);
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return {
    name: dir.split('/').pop()!,
    dir,
    opset: opset ? num(opset.version) : 0,
    nodes: (graph.node ?? []).map((n) => ({
      opType: n.opType ?? '',
      inputs: n.input ?? [],
      outputs: n.output ?? [],
      attributes: new Map((n.attribute ?? []).map((a) => [a.name ?? '', decodeAttribute(a)])),
    })),
    inputs: (graph.input ?? []).map(valueInfo),
    outputs: (graph.output ?? []).map(valueInfo),
  };
}

/** Every test_data_set_* of a case: input_i.pb and output_i.pb in the graph's input and output order. */
export function readDataSets(c: OnnxCase): { inputs: Tensor[]; outputs: Tensor[] }[] {
  const sets = readdirSync(c.dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort();
  const read = (set: string, kind: 'input' | 'output', count: number): Tensor[] =>
    Array.from({ length: count }, (_, i) => decodeTensor(onnx.TensorProto.decode(readFileSync(join(c.dir, set, `${kind}_${i}.pb`)))));
  return sets.map((set) => ({ inputs: read(set, 'input', c.inputs.length), outputs: read(set, 'output', c.outputs.length) }));
}

/** Case directories whose names start with `test_<prefix>`, sorted; none if the data is not installed. */
export function listCases(prefix: string): string[] {
  if (!existsSync(ONNX_NODE_TESTS)) return [];
  return readdirSync(ONNX_NODE_TESTS)
    .filter((d) => d.startsWith(`test_${prefix}`))
    .sort()
    .map((d) => join(ONNX_NODE_TESTS, d));
}
