import { WebGpuUnavailableError } from './errors';

/** The adapter facts a user (and the kernel choice) cares about. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
}

/** A WebGPU device with the facts of the adapter it came from. */
export interface Gpu {
  device: GPUDevice;
  adapter: AdapterSummary;
  /** Counts GPU buffers created through `createBuffer` in ./buffers, for leak checks and reports. */
  liveBuffers: number;
  liveBytes: number;
}

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  forceFallbackAdapter?: boolean;
}

/**
 * Acquire an adapter and device from a `GPU` object: `navigator.gpu` in a browser, Dawn's in Node
 * (see ../node.ts). Asks for the adapter's full buffer limits: ResNet weights exceed the defaults.
 */
export async function createGpu(gpu: GPU | undefined = globalThis.navigator?.gpu, options: GpuOptions = {}): Promise<Gpu> {
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'WebGPU is not available: navigator.gpu is undefined. Use a browser with WebGPU enabled, served from https or localhost (file:// pages have no WebGPU), or the Node entry point.',
    );
  }
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'WebGPU is present but returned no adapter: there is no usable GPU, and no fallback adapter was offered.',
    );
  }
  const wanted: GPUFeatureName[] = ['timestamp-query'];
  const device = await adapter.requestDevice({
    requiredFeatures: wanted.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(adapter.limits.maxStorageBuffersPerShaderStage, 8),
    },
  });
  // Errors outside an error scope would otherwise vanish: say them, without a stack trace.
  device.addEventListener('uncapturederror', (event) => {
    console.error(`resnet-webgpu: WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`);
  });
  const info = adapter.info;
  return {
    device,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      description: info.description,
      isFallbackAdapter: (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      features: [...adapter.features].sort(),
    },
    liveBuffers: 0,
    liveBytes: 0,
  };
}

export function describeAdapter(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' / ') || 'unknown adapter';
  return a.isFallbackAdapter ? `${name} (fallback adapter)` : name;
}
