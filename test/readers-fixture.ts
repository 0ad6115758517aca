import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '../src/cli/npy';
import { ROOT } from './fixtures';

const PYTHON = '/usr/bin/python3'; // Debian's, which has torch

/** A hash of the scripts that make a fixture: part of its cache key, so editing them regenerates it. */
export const scriptsVersion = (...scripts: string[]): string => {
  const hash = createHash('sha256');
  for (const s of scripts) hash.update(readFileSync(join(ROOT, 'scripts', s)));
  return hash.digest('hex').slice(0, 8);
};

export interface FormatSpec {
  model: string;
  format: string;
  /** torchvision bottlenecks: where they stride (Keras's ResNets are v1). */
  variant?: 'v1.5' | 'v1';
  classes?: number;
  batch?: number;
  height?: number;
  width?: number;
}

const MAIN_FILE: Record<string, string> = {
  pth: 'model.pth',
  'pth-legacy': 'model.pth',
  'pth-checkpoint': 'model.pth.tar',
  'hf-safetensors': 'model.safetensors',
  'hf-sharded': 'model.safetensors.index.json',
  'hf-bin-sharded': 'pytorch_model.bin.index.json',
  onnx: 'model.onnx',
  'onnx-unfolded': 'model.onnx',
  'onnx-external': 'model.onnx',
  'tfjs-keras-uint8': 'model.json',
  'tfjs-keras-uint16': 'model.json',
  'tfjs-keras-float16': 'model.json',
  'tfjs-keras-none': 'model.json',
};

/** A model saved in one format with PyTorch's logits, made by scripts/weights_reference.py on first use and cached under .cache/fixtures/formats. */
export function formatReference(spec: FormatSpec): { dir: string; file: string; input: { data: Float32Array; shape: number[] }; logits: Float32Array } {
  const s = { classes: 10, batch: 2, height: 64, width: 64, variant: 'v1.5', ...spec };
  const version = scriptsVersion('weights_reference.py', 'torch_reference.py');
  const dir = join(ROOT, '.cache', 'fixtures', 'formats', `${s.model}${s.variant === 'v1' ? '-v1' : ''}-${s.format}-c${s.classes}-n${s.batch}-${s.height}x${s.width}-${version}`);
  if (!existsSync(join(dir, 'logits.npy'))) {
    // prettier-ignore
    execFileSync(PYTHON, [join(ROOT, 'scripts', 'weights_reference.py'), '--model', s.model, '--format', s.format, '--variant', s.variant,
      '--classes', String(s.classes), '--batch', String(s.batch), '--height', String(s.height), '--width', String(s.width), '--out', dir], { stdio: 'inherit' });
  }
  const npy = (f: string) => readNpy(readFileSync(join(dir, f)), f);
  return { dir, file: join(dir, MAIN_FILE[s.format]), input: npy('input.npy'), logits: npy('logits.npy').data };
}
