// resnet-webgpu: the library entry for browsers and bundlers (Node adds ./node.ts).
export { createGpu, describeAdapter, type Gpu, type AdapterSummary, type GpuOptions } from './runtime/device';
export { ResnetWebGpuError, WebGpuUnavailableError, WeightsError, InputError, GpuError, DeviceLostError, GpuLimitError, DisposedError } from './runtime/errors';
export { ResNetModel, type RunOptions, type MemoryReport, type ModelOptions } from './model/model';
export { CONV_VARIANTS, defaultConvVariants, type ConvVariant } from './kernels/conv2d';
export { describeKernelChoices, type TuneCache, type Tuning, type KernelChoices } from './runtime/autotune';
export { IMAGENET_PREPROCESS, type RgbaImage } from './model/images';
export type { PreprocessConfig } from './kernels/preprocess';
export { profileSchedule, canProfile, type StepTiming } from './runtime/profiler';
export { ARCHITECTURES, resnetConfig, describeResNet, type ResNetConfig, type LayerOp } from './model/resnet';
export { openWeights, SUPPORTED_FORMATS, type ReadFile, type WeightOptions } from './model/load';
export { parseSafetensors } from './model/safetensors';
export { writeShards, readShards, SHARD_FORMAT, type ShardIndex } from './model/shards';
export type { PreparedWeights, HostTensor, TensorMap, ModelMeta } from './model/tensors';
export { fetchWeights, CACHE_NAME, HF_WEIGHT_FILES, type FetchOptions, type LoadOptions, type LoadProgress } from './model/fetch';

import type { Gpu } from './runtime/device';
import { ResNetModel } from './model/model';
import { fetchWeights, type LoadOptions } from './model/fetch';
import { convKernel, defaultConvVariants } from './kernels/conv2d';
import { getPipeline } from './runtime/pipelines';

/**
 * Fetch weights in any supported format (see SUPPORTED_FORMATS) from a URL, companion files
 * resolved beside it, or from a Hugging Face repository (`hf:owner/repo[@revision]`), and load them.
 * Streams with progress, retries, checks sha256 where known and caches in the browser (see LoadOptions).
 */
export async function loadModel(gpu: Gpu, source: string | URL, options: LoadOptions = {}): Promise<ResNetModel> {
  // The conv kernel a first run uses is the slowest to compile (0.3 s on a CPU adapter): start while
  // the weights download (a failure shows again, with its message, when the model compiles it).
  getPipeline(gpu, convKernel(defaultConvVariants(gpu)[0])).catch(() => undefined);
  // The browser cache is written after the first result rather than during it: on a CPU adapter
  // the write competes with loading and the first run for the same cores (~0.45 s of a 2-core
  // machine's first result for ResNet-50). A run started as soon as the load resolves is queued
  // by the time the timeout fires, so `idle` waits for it.
  let store!: () => void;
  const storeAfter = new Promise<void>((resolve) => (store = resolve));
  try {
    const { weights, url } = await fetchWeights(source, options, storeAfter);
    const model = await ResNetModel.load(gpu, weights, url);
    setTimeout(() => void model.idle().then(store));
    return model;
  } catch (e) {
    store();
    throw e;
  }
}
