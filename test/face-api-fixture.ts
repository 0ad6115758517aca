import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '../src/cli/npy';
import { ROOT } from './fixtures';
import { scriptsVersion } from './readers-fixture';

export const FACE_API_MODEL = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'model');
export const FACE_API_MANIFEST = join(FACE_API_MODEL, 'face_recognition_model-weights_manifest.json');

export interface FaceApiReference {
  dir: string;
  /** [N, 150, 150, 3] RGB values 0..255: what face-api is given. */
  images: { data: Float32Array; shape: number[] };
  /** [N, 3, 150, 150], normalised as face-api does. */
  input: { data: Float32Array; shape: number[] };
  /** [N, 128] from scripts/face_api_reference.py's float64 PyTorch rebuild. */
  descriptors: Float32Array;
}

/** Face crops of real photos and their PyTorch descriptors, made by scripts/face_api_reference.py on first use and cached under .cache/fixtures. */
export function faceApiReference(): FaceApiReference {
  const version = JSON.parse(readFileSync(join(FACE_API_MODEL, '..', 'package.json'), 'utf8')).version;
  const dir = join(ROOT, '.cache', 'fixtures', `face-api-${version}-${scriptsVersion('face_api_reference.py')}`);
  if (!existsSync(join(dir, 'descriptors.npy'))) {
    // prettier-ignore
    execFileSync('/usr/bin/python3', [join(ROOT, 'scripts', 'face_api_reference.py'),
      '--manifest', FACE_API_MANIFEST, '--images', join(ROOT, '..', 'shared', 'images'), '--out', dir], { stdio: 'inherit' });
  }
  const npy = (f: string) => readNpy(readFileSync(join(dir, f)), f);
  return { dir, images: npy('images.npy'), input: npy('input.npy'), descriptors: npy('descriptors.npy').data };
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}
