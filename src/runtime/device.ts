import { defaultTuneCache, type TuneCache } from './autotune';
import { WebGpuUnavailableError, type BufferLimit } from './errors';

/** The adapter facts a user (and the kernel choice) cares about. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
}

/**
 * A WebGPU device with the facts of the adapter it came from. The device can be lost (a driver
 * reset, the GPU removed, `device.destroy()`): `restore` then replaces it, and `generation` tells
 * whoever built buffers or pipelines on the old one to build them again.
 */
export interface Gpu {
  /** The current device: after a loss and `restore`, a new object. */
  device: GPUDevice;
  adapter: AdapterSummary;
  /** Counts GPU buffers created through `createBuffer` in ./buffers, for leak checks and reports. */
  liveBuffers: number;
  liveBytes: number;
  /** 1 for the first device, one more for each device `restore` made. */
  generation: number;
  /** Why the current device was lost, once its `lost` promise has resolved; undefined while it works. */
  lost?: { reason: string; message: string };
  /** Every inference runs inside WebGPU error scopes, so a validation error rejects the call that caused it. */
  debug: boolean;
  /** The autotune's picks of kernel variants for this adapter (see ./autotune.ts). */
  tuneCache: TuneCache;
  /**
   * Whether waiting on the GPU takes a CPU core from the GPU's work: Node's Dawn (the `webgpu`
   * package) ticks the device from setImmediate for as long as a map or onSubmittedWorkDone is
   * pending, and a fallback adapter runs the work on the same CPU. Set in Node on fallback
   * adapters; then a run's waits wait on a timer first (WaitHold).
   */
  spinsWhileWaiting: boolean;
  /** Resolves when a run's waits on the GPU may begin: at once, unless a WaitHold keeps them off while the GPU works. */
  quiet: Promise<void>;
  /** When the device is lost, request a new adapter and device (one request, however many callers wait on it). */
  restore(): Promise<void>;
}

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  forceFallbackAdapter?: boolean;
  /** See `Gpu.debug`. */
  debug?: boolean;
  /**
   * Buffer limits to ask for instead of the adapter's largest (ResNet weights exceed WebGPU's
   * defaults of 128 MiB binding / 256 MiB buffer): e.g. the defaults, to see what fits on any device.
   */
  requiredLimits?: Partial<Record<BufferLimit, number>>;
  /** Where the autotune keeps its picks; default: localStorage in browsers, memory elsewhere. */
  tuneCache?: TuneCache;
}

/**
 * Acquire an adapter and device from a `GPU` object: `navigator.gpu` in a browser, Dawn's in Node
 * (see ../node.ts). Keeps `gpu` and `options`, so a lost device can be replaced by `restore`.
 */
export async function createGpu(gpu: GPU | undefined = globalThis.navigator?.gpu, options: GpuOptions = {}): Promise<Gpu> {
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'WebGPU is not available: navigator.gpu is undefined. Use a browser with WebGPU enabled, served from https or localhost (file:// pages have no WebGPU), or the Node entry point.',
    );
  }
  let restoring: Promise<void> | undefined;
  const opened = await openDevice(gpu, options);
  const state: Gpu = {
    ...opened,
    spinsWhileWaiting: spinsWhileWaiting(opened.adapter),
    quiet: Promise.resolve(),
    liveBuffers: 0,
    liveBytes: 0,
    generation: 1,
    debug: options.debug ?? false,
    tuneCache: options.tuneCache ?? defaultTuneCache(),
    restore() {
      if (!state.lost) return Promise.resolve();
      restoring ??= openDevice(gpu, options)
        .then(({ device, adapter }) => {
          Object.assign(state, { device, adapter, lost: undefined, generation: state.generation + 1, spinsWhileWaiting: spinsWhileWaiting(adapter) });
          watch(device);
        })
        .finally(() => (restoring = undefined));
      return restoring;
    },
  };
  // Only the current device's loss counts: an old one resolving late must not mark its successor lost.
  const watch = (device: GPUDevice): void =>
    void device.lost.then((info) => {
      if (state.device === device) state.lost = { reason: info.reason, message: info.message };
    });
  watch(state.device);
  return state;
}

// In Node, any WebGPU is a native binding such as Dawn's, which ticks while waiting (Gpu.spinsWhileWaiting).
const spinsWhileWaiting = (adapter: AdapterSummary): boolean =>
  adapter.isFallbackAdapter && typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** The share of a job's expected time its waits spend on a timer; the rest, and any overrun, on Dawn's ticks. */
const QUIET_SHARE = 0.9;

/**
 * Where waiting spins (Gpu.spinsWhileWaiting), holds a repeated job's waits on the GPU (a
 * schedule's runs) on a timer, `gpu.quiet`, for most of the time the job is expected to take: the
 * least of its last 4 runs' times (a slow one, a pause, does not hold the next ones back), a fifth
 * less after a run found done as soon as the timer fired (it may have been done well before). In
 * Node on SwiftShader (2 cores), ResNet-50's runs took 1.3–1.7 s with Dawn ticking throughout,
 * 0.9–1.0 s so.
 */
export class WaitHold {
  private readonly recentMs: number[] = [];
  private foundDone = false;
  private heldMs = 0;
  private submitted = 0;

  constructor(private readonly gpu: Gpu) {}

  /** Just after the job's submit. */
  start(): void {
    this.submitted = performance.now();
    const expected = this.recentMs.length ? Math.min(...this.recentMs) * (this.foundDone ? 0.8 : 1) : 0;
    this.heldMs = this.gpu.spinsWhileWaiting ? QUIET_SHARE * expected : 0;
    if (this.heldMs) this.gpu.quiet = new Promise((resolve) => setTimeout(resolve, this.heldMs));
  }

  /** Once the job's result is in. */
  done(): void {
    const ms = performance.now() - this.submitted;
    this.foundDone = this.heldMs > 0 && ms - this.heldMs < 2;
    this.recentMs.push(ms);
    if (this.recentMs.length > 4) this.recentMs.shift();
  }
}

async function openDevice(gpu: GPU, options: GpuOptions): Promise<{ device: GPUDevice; adapter: AdapterSummary }> {
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference, forceFallbackAdapter: options.forceFallbackAdapter });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'WebGPU is present but returned no adapter: there is no usable GPU, and no fallback adapter was offered.',
    );
  }
  // timestamp-query for the profiler and the autotune's clock; subgroups for the quad conv kernels.
  const wanted: GPUFeatureName[] = ['timestamp-query', 'subgroups' as GPUFeatureName];
  const device = await adapter.requestDevice({
    requiredFeatures: wanted.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: options.requiredLimits?.maxStorageBufferBindingSize ?? adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: options.requiredLimits?.maxBufferSize ?? adapter.limits.maxBufferSize,
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
  };
}

/**
 * How `device` was lost, or undefined if it works. A failure a loss causes (a rejected mapAsync)
 * can settle just before `device.lost` does, so this waits one task for it.
 */
export function lostInfo(device: GPUDevice): Promise<GPUDeviceLostInfo | undefined> {
  return Promise.race([device.lost, new Promise<undefined>((done) => setTimeout(done, 0))]);
}

export function describeAdapter(a: AdapterSummary): string {
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' / ') || 'unknown adapter';
  return a.isFallbackAdapter ? `${name} (fallback adapter)` : name;
}
