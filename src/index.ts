// resnet-webgpu: the library entry for browsers and bundlers (Node adds ./node.ts).
export { createGpu, describeAdapter, type Gpu, type AdapterSummary, type GpuOptions } from './runtime/device';
export { ResnetWebGpuError, WebGpuUnavailableError, WeightsError, InputError, GpuError, DeviceLostError, GpuLimitError, DisposedError } from './runtime/errors';
export { ResNetModel, type RunOptions, type MemoryReport } from './model/model';
export { IMAGENET_PREPROCESS, type RgbaImage } from './model/images';
export type { PreprocessConfig } from './kernels/preprocess';
export { profileSchedule, canProfile, type StepTiming } from './runtime/profiler';
export { ARCHITECTURES, resnetConfig, describeResNet, type ResNetConfig, type LayerOp } from './model/resnet';
export { openWeights, SUPPORTED_FORMATS, type ReadFile, type WeightOptions } from './model/load';
export { parseSafetensors } from './model/safetensors';
export { writeShards, readShards, SHARD_FORMAT, type ShardIndex } from './model/shards';
export type { PreparedWeights, HostTensor, TensorMap, ModelMeta } from './model/tensors';

import type { Gpu } from './runtime/device';
import { WeightsError } from './runtime/errors';
import { ResNetModel } from './model/model';
import { openWeights, type WeightOptions } from './model/load';

/** Fetch weights in any supported format (see SUPPORTED_FORMATS) from a URL, companion files resolved beside it, and load them. */
export async function loadModel(gpu: Gpu, url: string | URL, options: WeightOptions = {}): Promise<ResNetModel> {
  const base = new URL(url, globalThis.location?.href);
  const read = async (relative: string): Promise<Uint8Array> => {
    const response = await fetch(new URL(relative, base));
    if (!response.ok) throw new WeightsError(relative, `HTTP ${response.status} ${response.statusText} from ${new URL(relative, base)}`);
    return new Uint8Array(await response.arrayBuffer());
  };
  return ResNetModel.load(gpu, await openWeights(base.pathname, read, options), base.href);
}
