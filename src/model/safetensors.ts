import { WeightsError } from '../runtime/errors';
import { DTYPE_BYTES, decodeFloats, elementCount, type StoredDType, type TensorMap } from './tensors';

const FLOAT_DTYPES: Record<string, StoredDType> = { F32: 'f32', F16: 'f16', BF16: 'bf16', F64: 'f64' };
// Integer tensors (num_batches_tracked) are bookkeeping, never weights: checked for bounds, not decoded.
const SKIPPED_DTYPES: Record<string, number> = { I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/**
 * Read a .safetensors file: 8-byte little-endian header length, a JSON header mapping names to
 * {dtype, shape, data_offsets}, then the data. Every offset is checked against the file before use.
 */
export function parseSafetensors(bytes: Uint8Array, file: string): TensorMap {
  if (bytes.byteLength < 8) throw new WeightsError(file, `file is ${bytes.byteLength} bytes, too short for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.byteLength) {
    throw new WeightsError(file, `header claims ${headerLength} bytes but the file has ${bytes.byteLength - 8} after the length field`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw new WeightsError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new WeightsError(file, 'header is not a JSON object');
  const data = bytes.subarray(8 + headerLength);
  const tensors: TensorMap = new Map();
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = entry ?? {};
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new WeightsError(file, `shape ${JSON.stringify(shape)} is not a list of sizes`, name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new WeightsError(file, `data_offsets ${JSON.stringify(offsets)} are not two byte offsets`, name);
    }
    const [begin, end] = offsets;
    if (end < begin || end > data.byteLength) throw new WeightsError(file, `data_offsets [${begin}, ${end}] lie outside the ${data.byteLength} data bytes`, name);
    const elementBytes = FLOAT_DTYPES[dtype] ? DTYPE_BYTES[FLOAT_DTYPES[dtype]] : SKIPPED_DTYPES[dtype];
    if (!elementBytes) throw new WeightsError(file, `unsupported dtype ${dtype}`, name);
    if (end - begin !== elementCount(shape) * elementBytes) {
      throw new WeightsError(file, `shape ${JSON.stringify(shape)} as ${dtype} needs ${elementCount(shape) * elementBytes} bytes, data_offsets give ${end - begin}`, name);
    }
    ranges.push([begin, end, name]);
    if (FLOAT_DTYPES[dtype]) tensors.set(name, { shape, data: decodeFloats(data.subarray(begin, end), FLOAT_DTYPES[dtype]) });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) throw new WeightsError(file, `data overlaps tensor "${ranges[i - 1][2]}"`, ranges[i][2]);
  }
  return tensors;
}
