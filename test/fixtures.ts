import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readNpy } from '../src/cli/npy';

export interface ReferenceSpec {
  arch: string;
  classes: number;
  batch: number;
  height: number;
  width: number;
  variant?: 'v1.5' | 'v1';
  dtype?: 'f32' | 'f16' | 'bf16';
  seed?: number;
}

export interface Reference {
  dir: string;
  model: string;
  input: { data: Float32Array; shape: number[] };
  logits: { data: Float32Array; shape: number[] };
}

export const ROOT = resolve(import.meta.dirname, '..');
/** Debian's, which has torch and onnx (the python3 on PATH may not); TORCH_PYTHON names another, e.g. on a GPU machine. */
export const PYTHON = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
// Part of every cache key, so an edited script never leaves stale references behind.
const SCRIPT_VERSION = createHash('sha256').update(readFileSync(join(ROOT, 'scripts', 'torch_reference.py'))).digest('hex').slice(0, 8);

/**
 * PyTorch reference for seeded torchvision weights, made by scripts/torch_reference.py on first
 * use and cached under .cache/fixtures (nothing large is committed).
 */
export function torchReference(spec: ReferenceSpec): Reference {
  const s = { variant: 'v1.5', dtype: 'f32', seed: 0, ...spec };
  const dir = join(ROOT, '.cache', 'fixtures', `${s.arch}-${s.variant}-c${s.classes}-n${s.batch}-${s.height}x${s.width}-${s.dtype}-s${s.seed}-${SCRIPT_VERSION}`);
  if (!existsSync(join(dir, 'logits.npy'))) {
    // prettier-ignore
    execFileSync(PYTHON, [join(ROOT, 'scripts', 'torch_reference.py'),
      '--arch', s.arch, '--classes', String(s.classes), '--batch', String(s.batch),
      '--height', String(s.height), '--width', String(s.width), '--variant', s.variant,
      '--dtype', s.dtype, '--seed', String(s.seed), '--out', dir], { stdio: 'inherit' });
  }
  const npy = (f: string) => readNpy(readFileSync(join(dir, f)), f);
  return { dir, model: join(dir, 'model.safetensors'), input: npy('input.npy'), logits: npy('logits.npy') };
}

/** max |a − b| and max |b|: the suite's tolerance is maxAbsDiff ≤ 1e-3 · maxAbsRef. */
export function compare(actual: Float32Array, expected: Float32Array): { maxAbsDiff: number; maxAbsRef: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ reference ${expected.length}`);
  let maxAbsDiff = 0;
  let maxAbsRef = 0;
  for (let i = 0; i < actual.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(actual[i] - expected[i]));
    maxAbsRef = Math.max(maxAbsRef, Math.abs(expected[i]));
  }
  return { maxAbsDiff, maxAbsRef };
}

/** Index of the largest value in each row of a [rows][cols] matrix. */
export function argmaxRows(data: Float32Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / cols; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c] > data[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}
