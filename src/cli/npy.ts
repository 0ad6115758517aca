import { InputError } from '../runtime/errors';

/**
 * NumPy .npy files, float32 only (what the CLI reads and writes). Small enough to write by hand:
 * magic, version, a little-endian header length, a Python-dict header, then the data.
 */
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function readNpy(bytes: Uint8Array, file: string): { data: Float32Array; shape: number[] } {
  if (bytes.byteLength < 10 || !MAGIC.every((b, i) => bytes[i] === b)) throw new InputError(`${file}: not a .npy file (no \\x93NUMPY magic)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [major, minor] = [bytes[6], bytes[7]];
  // Version 1 has a 2-byte header length; 2 (long headers) and 3 (UTF-8 headers) a 4-byte one.
  if (major < 1 || major > 3) throw new InputError(`${file}: .npy format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`);
  const start = major === 1 ? 10 : 12;
  if (bytes.byteLength < start) throw new InputError(`${file}: .npy file ends inside its preamble (${bytes.byteLength} bytes)`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + headerLength > bytes.byteLength) throw new InputError(`${file}: .npy header of ${headerLength} bytes runs past the end of the file (${bytes.byteLength} bytes)`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new InputError(`${file}: unreadable .npy header ${JSON.stringify(header.trim().slice(0, 200))}`);
  if (descr !== '<f4') throw new InputError(`${file}: dtype ${descr} is not float32 ('<f4'); save the array with .astype('<f4')`);
  if (fortran === 'True') throw new InputError(`${file}: Fortran-ordered arrays are not supported; save a C-contiguous array`);
  const dims = shapeText.split(',').map((d) => d.trim());
  // "(5,)" has an empty last part; any other empty part, or anything but digits, is not a shape.
  if (dims.at(-1) === '') dims.pop();
  if (!dims.every((d) => /^\d{1,15}$/.test(d))) throw new InputError(`${file}: .npy shape (${shapeText}) is not a tuple of sizes`);
  const shape = dims.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLength;
  if (bytes.byteLength - dataStart !== count * 4) throw new InputError(`${file}: shape [${shape}] needs ${count * 4} data bytes, the file has ${bytes.byteLength - dataStart}`);
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart));
  return { data, shape };
}

export function writeNpy(data: Float32Array, shape: number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // The whole preamble (10 bytes + header + newline) is padded to a multiple of 64.
  header = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 10 - 1) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC);
  out[6] = 1;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
