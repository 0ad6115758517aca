import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../runtime/errors';
import type { RgbaImage } from '../model/images';

/** Browsers would decode 16384² fine; the CLI refuses anything past 64 Mpixel rather than run out of memory. */
const MAX_PIXELS = 64 * 1024 * 1024;

/** Decode PNG or JPEG bytes (by signature, not extension) to RGBA8. */
export function decodeImage(bytes: Uint8Array, file: string): RgbaImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
      const png = PNG.sync.read(buffer);
      return { data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength), width: png.width, height: png.height };
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
      const img = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      return { data: img.data, width: img.width, height: img.height };
    }
  } catch (e) {
    throw new InputError(`${file}: could not decode the image (${(e as Error).message})`);
  }
  throw new InputError(`${file}: not a PNG or JPEG image`);
}
