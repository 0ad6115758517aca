import { WeightsError } from '../runtime/errors';
import type { ResNetConfig } from './resnet';
import { parseSafetensors } from './safetensors';
import { readShards } from './shards';
import type { PreparedWeights } from './tensors';
import { foldTorchvisionResNet, inferResNetConfig } from './torchvision';

export interface WeightOptions {
  /** Name the architecture instead of inferring it from tensor names. */
  arch?: string;
  variant?: ResNetConfig['variant'];
}

/** Reads a file by path relative to the weights file (shards sit beside their index). */
export type ReadFile = (relativePath: string) => Promise<Uint8Array>;

/**
 * Open weights in any supported format, by file name: our shard index (`.json`) or a torchvision
 * state_dict as `.safetensors`. Works the same in the browser (read = fetch) and Node (read = fs).
 */
export async function openWeights(file: string, read: ReadFile, options: WeightOptions = {}): Promise<PreparedWeights> {
  const base = file.split(/[\\/]/).pop()!;
  const lower = base.toLowerCase();
  if (lower.endsWith('.safetensors')) {
    const tensors = parseSafetensors(await read(base), file);
    return foldTorchvisionResNet(tensors, inferResNetConfig(tensors, file, options), file);
  }
  if (lower.endsWith('.json')) {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(await read(base)));
    } catch (e) {
      throw new WeightsError(file, `not valid JSON (${(e as Error).message})`);
    }
    const prepared = await readShards(json, file, read);
    // A shard index records its architecture; an override can only confirm it, never change it.
    for (const key of ['arch', 'variant'] as const) {
      if (options[key] !== undefined && options[key] !== prepared.config[key]) {
        throw new WeightsError(file, `--${key} ${options[key]} was asked for, but the index holds ${prepared.config.arch} ${prepared.config.variant} weights`);
      }
    }
    return prepared;
  }
  throw new WeightsError(file, 'unsupported weights format: expected a .safetensors file or a resnet-webgpu shard index (.json)');
}
