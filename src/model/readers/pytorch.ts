import { unzipSync, type UnzipFileInfo } from 'fflate';
import { WeightsError } from '../../runtime/errors';
import { decodeFloats, elementCount, type StoredDType, type TensorMap } from '../tensors';
import { PickleGlobal, unpickle, type PickleValue } from './pickle';

/**
 * PyTorch's torch.save files, both serialisations: the zip archive (torch ≥ 1.6: `<name>/data.pkl`
 * plus one entry per storage, `<name>/data/<key>`) and the legacy stream (magic number, protocol,
 * system info and the object as pickles, the storage keys, then each storage as an int64 element
 * count and its bytes). The object is unpickled by our restricted unpickler: only dicts, tensors
 * and storages, nothing that could run code.
 */

const STORAGES: Record<string, { dtype?: StoredDType; bytes: number; unsupported?: string }> = {
  FloatStorage: { dtype: 'f32', bytes: 4 },
  DoubleStorage: { dtype: 'f64', bytes: 8 },
  HalfStorage: { dtype: 'f16', bytes: 2 },
  BFloat16Storage: { dtype: 'bf16', bytes: 2 },
  // Integer tensors (num_batches_tracked) are bookkeeping: bounds-checked, never decoded.
  LongStorage: { bytes: 8 },
  IntStorage: { bytes: 4 },
  ShortStorage: { bytes: 2 },
  CharStorage: { bytes: 1 },
  ByteStorage: { bytes: 1 },
  BoolStorage: { bytes: 1 },
  // Recognised so that the error can name the tensor.
  ComplexFloatStorage: { bytes: 8, unsupported: 'complex64' },
  ComplexDoubleStorage: { bytes: 16, unsupported: 'complex128' },
  QInt8Storage: { bytes: 1, unsupported: 'qint8' },
  QUInt8Storage: { bytes: 1, unsupported: 'quint8' },
  QInt32Storage: { bytes: 4, unsupported: 'qint32' },
};

/** A pickle larger than this is not a state_dict's (ResNet-152's is about 100 KB). */
const MAX_PICKLE_BYTES = 64 * 1024 * 1024;
/** Storage bytes beyond what the tensors cover that a file may hold (views of larger storages). */
const STORAGE_SLACK_BYTES = 64 * 1024 * 1024;
/** More storage than any ResNet needs (wide_resnet101_2 as float64 is 1 GB). */
const MAX_STORAGE_BYTES = 2 ** 31;
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

interface StorageRef {
  kind: 'storage';
  key: string;
  type: string;
  numel: number;
}

interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}

const isTensor = (v: PickleValue): v is TensorRef => typeof v === 'object' && v !== null && (v as TensorRef).kind === 'tensor';
const isCount = (v: PickleValue): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** The torch callables a state_dict's pickle calls, as inert builders. */
function callables(file: string): Record<string, (args: PickleValue[]) => PickleValue> {
  const tensor = ([storage, offset, size, stride]: PickleValue[]): TensorRef => {
    const s = storage as StorageRef;
    if (s?.kind !== 'storage') throw new WeightsError(file, '_rebuild_tensor: its first argument is not a storage');
    if (!isCount(offset) || !Array.isArray(size) || !size.every(isCount) || !Array.isArray(stride) || !stride.every(isCount) || size.length !== stride.length) {
      throw new WeightsError(file, `_rebuild_tensor: offset ${String(offset)}, size and stride are not lists of counts`);
    }
    return { kind: 'tensor', storage: s, offset, shape: size as number[], stride: stride as number[] };
  };
  const dict = (): PickleValue => new Map<PickleValue, PickleValue>();
  return {
    'collections.OrderedDict': dict,
    'torch._utils._rebuild_tensor': tensor,
    'torch._utils._rebuild_tensor_v2': tensor,
    // An nn.Parameter saved as such (a model's parameters rather than its state_dict): its tensor.
    'torch._utils._rebuild_parameter': ([data]) => data,
  };
}

const STORAGE_NAMES = new Set(Object.keys(STORAGES).map((s) => `torch.${s}`));

/** Resolve ('storage', type, key, location, numel[, view]) persistent ids, checking each the same way in both formats. */
function storageLoader(file: string, storages: Map<string, StorageRef>): (id: PickleValue) => PickleValue {
  return (id) => {
    if (!Array.isArray(id) || id[0] !== 'storage' || id.length < 5) throw new WeightsError(file, `persistent id ${JSON.stringify(String(id))} is not a storage`);
    const [, type, key, , numel] = id;
    if (!(type instanceof PickleGlobal) || !STORAGES[type.name]) throw new WeightsError(file, `storage type ${String(type)} is not one a ResNet uses`);
    if (typeof key !== 'string' || !isCount(numel)) throw new WeightsError(file, `storage ${String(key)}: key or size is malformed`);
    const known = storages.get(key);
    if (known && (known.numel !== numel || known.type !== type.name)) throw new WeightsError(file, `storage ${key} is described twice, differently`);
    const ref: StorageRef = known ?? { kind: 'storage', key, type: type.name, numel };
    storages.set(key, ref);
    return ref;
  };
}

/** The tensors of a state_dict, or of a checkpoint dict holding one under "state_dict" or "model". */
function stateDict(value: PickleValue, file: string): Map<string, TensorRef> {
  if (!(value instanceof Map)) throw new WeightsError(file, 'the pickled object is not a dict of tensors (save model.state_dict(), not the model)');
  const tensors = [...value].filter(([, v]) => isTensor(v));
  if (tensors.length === 0) {
    for (const key of ['state_dict', 'model', 'model_state_dict']) if (value.get(key) instanceof Map) return stateDict(value.get(key)!, file);
    throw new WeightsError(file, `no tensors in the pickled dict (keys: ${[...value.keys()].slice(0, 8).map(String).join(', ')})`);
  }
  const out = new Map<string, TensorRef>();
  for (const [k, v] of tensors) out.set(String(k), v as TensorRef);
  return out;
}

/**
 * Check every tensor against its storage before any storage is read: extents inside the storage,
 * the storages no larger than the tensors need (plus slack) nor than any ResNet, and the tensors
 * not repeating their storages' data many times over, so a file cannot make us allocate or
 * inflate more than its weights.
 */
function checkExtents(tensors: Map<string, TensorRef>, storages: Map<string, StorageRef>, file: string): void {
  let tensorBytes = 0;
  for (const [name, t] of tensors) {
    const numel = elementCount(t.shape);
    if (numel > t.storage.numel) throw new WeightsError(file, `shape [${t.shape}] has ${numel} elements, its storage ${t.storage.key} only ${t.storage.numel}`, name);
    const last = numel === 0 ? 0 : t.offset + t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0) + 1;
    if (last > t.storage.numel) throw new WeightsError(file, `elements up to ${last} of storage ${t.storage.key}, which holds ${t.storage.numel}`, name);
    tensorBytes += numel * STORAGES[t.storage.type].bytes;
  }
  let storageBytes = 0;
  for (const s of storages.values()) storageBytes += s.numel * STORAGES[s.type].bytes;
  if (storageBytes > Math.min(tensorBytes + STORAGE_SLACK_BYTES, MAX_STORAGE_BYTES)) {
    const [key] = [...storages.values()].sort((a, b) => b.numel - a.numel);
    const user = [...tensors].find(([, t]) => t.storage.key === key.key)?.[0];
    throw new WeightsError(file, `storages claim ${storageBytes} bytes, the tensors cover ${tensorBytes}; the largest, ${key.key}, claims ${key.numel} elements`, user);
  }
  if (tensorBytes > 2 * storageBytes + STORAGE_SLACK_BYTES) {
    throw new WeightsError(file, `the tensors cover ${tensorBytes} bytes of ${storageBytes} bytes of storage: views repeating the same data`, [...tensors.keys()].pop());
  }
}

/** Decode a tensor's elements from its storage's bytes, following its strides. */
function decodeTensor(t: TensorRef, bytes: Uint8Array): Float32Array {
  const { dtype, bytes: size } = STORAGES[t.storage.type];
  const numel = elementCount(t.shape);
  const contiguous = t.shape.every((_, i) => t.shape[i] === 1 || t.stride[i] === t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  if (contiguous) return decodeFloats(bytes.subarray(t.offset * size, (t.offset + numel) * size), dtype!);
  const all = decodeFloats(bytes, dtype!);
  const out = new Float32Array(numel);
  const index = new Array<number>(t.shape.length).fill(0);
  for (let i = 0; i < numel; i++) {
    out[i] = all[t.offset + index.reduce((a, k, d) => a + k * t.stride[d], 0)];
    for (let d = t.shape.length - 1; d >= 0 && ++index[d] === t.shape[d]; d--) index[d] = 0;
  }
  return out;
}

function toTensorMap(tensors: Map<string, TensorRef>, file: string, storageBytes: (s: StorageRef, tensor: string) => Uint8Array): TensorMap {
  const out: TensorMap = new Map();
  for (const [name, t] of tensors) {
    const { dtype, unsupported } = STORAGES[t.storage.type];
    if (unsupported) throw new WeightsError(file, `stored as ${unsupported}: a ResNet's weights are real floating-point numbers`, name);
    if (!dtype) continue;
    out.set(name, { shape: t.shape, data: decodeTensor(t, storageBytes(t.storage, name)) });
  }
  return out;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Read a torch.save file (either serialisation) as a map of float tensors by state_dict name. */
export function parsePytorch(bytes: Uint8Array, file: string): TensorMap {
  return ZIP_MAGIC.every((b, i) => bytes[i] === b) ? parseZip(bytes, file) : parseLegacy(bytes, file);
}

/**
 * fflate walks as many central directory entries as the end record claims: up to 2^32 in a zip64
 * record, minutes of work for a few flipped bits. Refuse a count the directory cannot hold (each
 * entry is at least 46 bytes), finding the records as fflate does.
 */
function checkEntryCount(bytes: Uint8Array, file: string): void {
  const u32 = (at: number): number => (at >= 0 && at + 4 <= bytes.length ? new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true) : 0);
  let end = bytes.length - 22;
  while (end > 0 && bytes.length - end <= 65558 && u32(end) !== 0x06054b50) end--;
  if (u32(end) !== 0x06054b50) return; // no end record: fflate says so
  let count = bytes[end + 8] | (bytes[end + 9] << 8);
  let offset = u32(end + 16);
  if (u32(end - 20) === 0x07064b50 && u32(u32(end - 12)) === 0x06064b50) {
    count = u32(u32(end - 12) + 32);
    offset = u32(u32(end - 12) + 48);
  }
  if (count * 46 > bytes.length - offset) throw new WeightsError(file, `not a readable zip archive (its directory claims ${count} entries at byte ${offset} of ${bytes.length})`);
}

function unzip(bytes: Uint8Array, file: string, filter: (entry: UnzipFileInfo) => boolean): Record<string, Uint8Array> {
  checkEntryCount(bytes, file);
  try {
    return unzipSync(bytes, { filter });
  } catch (e) {
    if (e instanceof WeightsError) throw e;
    throw new WeightsError(file, `not a readable zip archive (${(e as Error).message})`);
  }
}

/** A deflate stream never grows its input by more than this; a larger "compressed" size is a lie. */
const deflateBound = (n: number): number => n + Math.ceil(n / 1000) + 64;

function checkEntry(entry: UnzipFileInfo, file: string, expected: number, tensor?: string): void {
  if (entry.originalSize !== expected) throw new WeightsError(file, `zip entry ${entry.name} holds ${entry.originalSize} bytes, ${expected} expected`, tensor);
  if (entry.compression !== 0 && entry.compression !== 8) throw new WeightsError(file, `zip entry ${entry.name} uses compression method ${entry.compression} (only stored and deflate are read)`, tensor);
  // Stored: exactly its size. Deflated: fflate inflates into a buffer of the checked size, and the
  // stream it reads is bounded too, so a bomb can cost neither memory nor much time.
  if (entry.size > (entry.compression === 0 ? expected : deflateBound(expected))) {
    throw new WeightsError(file, `zip entry ${entry.name} has ${entry.size} compressed bytes for ${expected} bytes of data`, tensor);
  }
}

function parseZip(bytes: Uint8Array, file: string): TensorMap {
  const entries = new Map<string, UnzipFileInfo>();
  const pickles = unzip(bytes, file, (entry) => {
    entries.set(entry.name, entry);
    if (/^[^/]+\/byteorder$/.test(entry.name)) {
      checkEntry(entry, file, entry.originalSize);
      return entry.originalSize < 16;
    }
    if (!/^[^/]+\/data\.pkl$/.test(entry.name)) return false;
    if (entry.originalSize > MAX_PICKLE_BYTES) throw new WeightsError(file, `${entry.name} claims ${entry.originalSize} bytes, more than a state_dict's pickle needs`);
    checkEntry(entry, file, entry.originalSize);
    return true;
  });
  // torch ≥ 2.1 records the byte order it wrote (older files are little-endian).
  const byteorder = Object.keys(pickles).find((n) => n.endsWith('/byteorder'));
  if (byteorder && new TextDecoder().decode(pickles[byteorder]) !== 'little') throw new WeightsError(file, `saved ${new TextDecoder().decode(pickles[byteorder])}-endian; only little-endian files are read`);
  const names = Object.keys(pickles).filter((n) => n.endsWith('/data.pkl'));
  if (names.length !== 1) throw new WeightsError(file, names.length ? `several pickles (${names.join(', ')})` : 'a zip archive without <name>/data.pkl: not a torch.save file');
  const prefix = names[0].slice(0, -'data.pkl'.length);
  const storages = new Map<string, StorageRef>();
  const { value } = unpickle(pickles[names[0]], file, { callables: callables(file), names: STORAGE_NAMES, persistentLoad: storageLoader(file, storages) });
  const tensors = stateDict(value, file);
  checkExtents(tensors, storages, file);

  const users = new Map<string, string>();
  for (const [name, t] of tensors) if (!users.has(t.storage.key)) users.set(t.storage.key, name);
  const wanted = new Map<string, StorageRef>();
  for (const t of tensors.values()) if (STORAGES[t.storage.type].dtype) wanted.set(`${prefix}data/${t.storage.key}`, t.storage);
  for (const [entry, s] of wanted) {
    const info = entries.get(entry);
    if (!info) throw new WeightsError(file, `storage ${s.key} has no zip entry ${entry}`, users.get(s.key));
    checkEntry(info, file, s.numel * STORAGES[s.type].bytes, users.get(s.key));
  }
  const data = unzip(bytes, file, (entry) => wanted.has(entry.name));
  return toTensorMap(tensors, file, (s, tensor) => {
    const b = data[`${prefix}data/${s.key}`];
    if (b.byteLength !== s.numel * STORAGES[s.type].bytes) throw new WeightsError(file, `storage ${s.key} inflated to ${b.byteLength} bytes, ${s.numel * STORAGES[s.type].bytes} expected`, tensor);
    return b;
  });
}

function parseLegacy(bytes: Uint8Array, file: string): TensorMap {
  if (bytes[0] !== 0x80) throw new WeightsError(file, 'neither a zip archive nor a pickle: not a torch.save file');
  const plain = { callables: {} };
  const magic = unpickle(bytes, file, plain);
  if (BigInt(magic.value as number | bigint) !== LEGACY_MAGIC) throw new WeightsError(file, 'a pickle, but not a torch.save file (no magic number)');
  const protocol = unpickle(bytes, file, plain, magic.end);
  if (protocol.value !== 1001) throw new WeightsError(file, `torch.save legacy protocol ${String(protocol.value)} (this reader knows 1001)`);
  const sysInfo = unpickle(bytes, file, plain, protocol.end);
  if (!(sysInfo.value instanceof Map) || sysInfo.value.get('little_endian') !== true) throw new WeightsError(file, 'saved on a big-endian machine, or without system info');
  const storages = new Map<string, StorageRef>();
  const object = unpickle(bytes, file, { callables: callables(file), names: STORAGE_NAMES, persistentLoad: storageLoader(file, storages) }, sysInfo.end);
  const tensors = stateDict(object.value, file);
  checkExtents(tensors, storages, file);
  const keys = unpickle(bytes, file, plain, object.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new WeightsError(file, 'the list of storage keys is malformed');

  const users = new Map<string, string>();
  for (const [name, t] of tensors) if (!users.has(t.storage.key)) users.set(t.storage.key, name);
  // Each storage: its element count (int64), then its bytes, in the order of the key list.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Map<string, Uint8Array>();
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s) throw new WeightsError(file, `storage ${key} is listed but no tensor uses it`);
    if (pos + 8 > bytes.byteLength) throw new WeightsError(file, `storage ${key}: the file ends before its size (truncated)`, users.get(key));
    const numel = view.getBigInt64(pos, true);
    if (numel !== BigInt(s.numel)) throw new WeightsError(file, `storage ${key} claims ${numel} elements, the pickle says ${s.numel}`, users.get(key));
    const length = s.numel * STORAGES[s.type].bytes;
    if (pos + 8 + length > bytes.byteLength) throw new WeightsError(file, `storage ${key}: ${length} bytes at offset ${pos + 8} run past the end of the file (${bytes.byteLength} bytes; truncated)`, users.get(key));
    data.set(key, bytes.subarray(pos + 8, pos + 8 + length));
    pos += 8 + length;
  }
  return toTensorMap(tensors, file, (s, tensor) => {
    const b = data.get(s.key);
    if (!b) throw new WeightsError(file, `storage ${s.key} is not in the list of stored keys`, tensor);
    return b;
  });
}
