import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../runtime/errors';
import type { RgbaImage } from '../model/images';

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

async function readIdx(dir: string, name: string, magic: number): Promise<{ dims: number[]; data: Uint8Array }> {
  const path = [join(dir, `${name}.gz`), join(dir, name)].find(existsSync);
  if (!path) throw new InputError(`Fashion-MNIST file ${name}(.gz) not found in ${dir}; install Debian's dataset-fashion-mnist or pass --data <dir>`);
  let bytes: Uint8Array = await readFile(path);
  if (path.endsWith('.gz')) bytes = gunzipSync(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8 || view.getUint32(0) !== magic) throw new InputError(`${path}: not an IDX file with magic 0x${magic.toString(16)}`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const start = 4 + 4 * rank;
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.byteLength - start !== count) throw new InputError(`${path}: dims [${dims}] need ${count} bytes, the file has ${bytes.byteLength - start}`);
  return { dims, data: bytes.subarray(start) };
}

/** The 10,000-image test set: images as 28×28 gray pixels, and labels 0–9. */
export async function readFashionMnistTest(dir = DEBIAN_FASHION_MNIST): Promise<{ images: Uint8Array; labels: Uint8Array; count: number; size: number }> {
  const images = await readIdx(dir, 't10k-images-idx3-ubyte', 0x00000803);
  const labels = await readIdx(dir, 't10k-labels-idx1-ubyte', 0x00000801);
  if (images.dims[0] !== labels.dims[0]) throw new InputError(`${dir}: ${images.dims[0]} images but ${labels.dims[0]} labels`);
  return { images: images.data, labels: labels.data, count: images.dims[0], size: images.dims[1] };
}

/** One gray image as RGBA (gray in R, G and B). */
export function grayToRgba(pixels: Uint8Array, width: number, height: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data[4 * i] = data[4 * i + 1] = data[4 * i + 2] = pixels[i];
    data[4 * i + 3] = 255;
  }
  return { data, width, height };
}
