import { WeightsError } from '../runtime/errors';
import type { ResNetConfig } from './resnet';
import { parseSafetensors } from './safetensors';
import { readShards, SHARD_FORMAT } from './shards';
import type { PreparedWeights, TensorMap } from './tensors';
import { prepareStateDict } from './torchvision';

export interface WeightOptions {
  /** Name the architecture instead of inferring it from tensor names. */
  arch?: string;
  variant?: ResNetConfig['variant'];
}

/** Reads a file by path relative to the weights file (shards sit beside their index). */
export type ReadFile = (relativePath: string) => Promise<Uint8Array>;

export const SUPPORTED_FORMATS =
  'a resnet-webgpu shard index (.json), safetensors (.safetensors, or sharded: model.safetensors.index.json), ' +
  'a PyTorch state_dict (.pth/.pt/.bin, zip or legacy), ONNX (.onnx) or TF.js (model.json or a weights manifest)';

/**
 * Open weights in any supported format, by file name and content: our shard index, safetensors
 * (single or sharded), torch.save files, ONNX and TF.js. State dicts may use torchvision's names
 * or Hugging Face transformers' ResNet names. Works the same in the browser (read = fetch) and
 * Node (read = fs). Readers with dependencies load on first use, so a page that opens only
 * safetensors never downloads a zip or protobuf decoder.
 */
export async function openWeights(file: string, read: ReadFile, options: WeightOptions = {}): Promise<PreparedWeights> {
  const base = file.split(/[\\/]/).pop()!;
  const lower = base.toLowerCase();
  if (lower.endsWith('.onnx')) {
    const { readOnnx } = await import('./readers/onnx');
    return confirm(await readOnnx(await read(base), file, read), file, options);
  }
  const bytes = await read(base);
  if (lower.endsWith('.json')) return openJson(bytes, file, read, options);
  if (lower.endsWith('.safetensors')) return prepareStateDict(parseSafetensors(bytes, file), file, options);
  // torch.save files go by many names (.pth, .pt, .bin, .th, .pth.tar, .ckpt): recognised by content, a zip archive or a pickle.
  const zip = bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (zip || bytes[0] === 0x80) return prepareStateDict((await import('./readers/pytorch')).parsePytorch(bytes, file), file, options);
  throw new WeightsError(file, `unsupported weights format: expected ${SUPPORTED_FORMATS}`);
}

async function openJson(bytes: Uint8Array, file: string, read: ReadFile, options: WeightOptions): Promise<PreparedWeights> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new WeightsError(file, `not valid JSON (${(e as Error).message})`);
  }
  const object = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (object.format === SHARD_FORMAT) return confirm(await readShards(json, file, read), file, options);
  if (typeof object.weight_map === 'object' && object.weight_map !== null) {
    return prepareStateDict(await readShardedStateDict(object.weight_map as Record<string, unknown>, file, read), file, options);
  }
  const { isTfjsManifest, readTfjsWeights } = await import('./readers/tfjs');
  if (isTfjsManifest(json)) {
    const { prepareTfjsWeights } = await import('./readers/tfjs-models');
    return confirm(prepareTfjsWeights(await readTfjsWeights(json, file, read), file, object.modelTopology), file, options);
  }
  throw new WeightsError(file, `not a ${SHARD_FORMAT} index (no "format": "${SHARD_FORMAT}"), nor a safetensors/PyTorch index ("weight_map"), nor a TF.js model ("weightsManifest")`);
}

/**
 * Hugging Face's sharded checkpoints: an index whose `weight_map` names, for each tensor, the
 * shard (safetensors or torch.save) holding it. Each tensor must be in the shard it is mapped to.
 */
async function readShardedStateDict(weightMap: Record<string, unknown>, file: string, read: ReadFile): Promise<TensorMap> {
  const shards = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || /(^|[\\/])\.\.([\\/]|$)|^[\\/]|^[a-z]+:/i.test(shard)) {
      throw new WeightsError(file, `shard ${JSON.stringify(shard)} must be a relative path inside the model folder`, tensor);
    }
    shards.set(shard, [...(shards.get(shard) ?? []), tensor]);
  }
  const tensors: TensorMap = new Map();
  for (const [shard, names] of shards) {
    const bytes = await read(shard);
    const part = shard.toLowerCase().endsWith('.safetensors') ? parseSafetensors(bytes, shard) : (await import('./readers/pytorch')).parsePytorch(bytes, shard);
    for (const name of part.keys()) {
      if (weightMap[name] !== shard) throw new WeightsError(shard, `holds a tensor the index (${file}) maps to ${JSON.stringify(weightMap[name] ?? null)}`, name);
    }
    // Integer tensors (num_batches_tracked) are listed but not decoded; float ones must all be there.
    for (const name of names) {
      const t = part.get(name);
      if (t) tensors.set(name, t);
    }
  }
  return tensors;
}

/** Formats that record their architecture: an override may only confirm it. */
function confirm(prepared: PreparedWeights, file: string, options: WeightOptions): PreparedWeights {
  for (const key of ['arch', 'variant'] as const) {
    if (options[key] !== undefined && options[key] !== prepared.config[key]) {
      throw new WeightsError(file, `--${key} ${options[key]} was asked for, but the file holds ${prepared.config.arch} ${prepared.config.variant} weights`);
    }
  }
  return prepared;
}
