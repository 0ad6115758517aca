/** Every failure the library reports is one of these: `code` is stable, `message` names the problem. */
export class ResnetWebGpuError extends Error {
  // Each class names itself: `new.target.name` would be whatever a minifier renamed the class to.
  override name = 'ResnetWebGpuError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** No `navigator.gpu`, no adapter, or the device could not be created. */
export class WebGpuUnavailableError extends ResnetWebGpuError {
  override name = 'WebGpuUnavailableError';
  constructor(message: string) {
    super('webgpu-unavailable', message);
  }
}

/** A weights file is malformed, or does not fit the architecture. */
export class WeightsError extends ResnetWebGpuError {
  override name = 'WeightsError';
  constructor(
    readonly file: string,
    message: string,
    readonly tensor?: string,
  ) {
    super('bad-weights', `${file}${tensor ? ` (tensor "${tensor}")` : ''}: ${message}`);
  }
}

/** An input tensor or file does not have the shape, dtype or format the model needs. */
export class InputError extends ResnetWebGpuError {
  override name = 'InputError';
  constructor(message: string) {
    super('bad-input', message);
  }
}

/** The GPU reported a validation or out-of-memory error. */
export class GpuError extends ResnetWebGpuError {
  override name = 'GpuError';
  constructor(message: string, code = 'gpu-error') {
    super(code, message);
  }
}

/**
 * The device was lost (destroyed, driver reset, GPU removed) while a call needed it. The call
 * failed; the model's next call makes a new device and uploads the weights again.
 */
export class DeviceLostError extends GpuError {
  override name = 'DeviceLostError';
  constructor(
    /** GPUDeviceLostInfo.reason: 'destroyed' or 'unknown'. */
    readonly reason: string,
    message: string,
  ) {
    super(message, 'device-lost');
  }
}

export type BufferLimit = 'maxBufferSize' | 'maxStorageBufferBindingSize';

/** A buffer (weights, activations, an image) would exceed a device limit: found before creating it. */
export class GpuLimitError extends GpuError {
  override name = 'GpuLimitError';
  constructor(
    readonly limit: BufferLimit,
    /** What the buffer was for: a tensor or activation name, or an image. */
    readonly what: string,
    readonly bytes: number,
    readonly max: number,
    advice: string,
  ) {
    super(`${what} needs ${formatBytes(bytes)}, more than this device's ${limit} of ${formatBytes(max)}${advice ? `: ${advice}` : ''}`, 'gpu-limit');
  }
}

/** The model was disposed: it holds no GPU memory any more and cannot run. */
export class DisposedError extends ResnetWebGpuError {
  override name = 'DisposedError';
  constructor() {
    super('disposed', 'this model was disposed; load it again to run it');
  }
}

/** Bytes for a message: exact, with a binary-unit gloss when large ("134217728 bytes (128 MiB)"). */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const gloss = unit < 0 ? '' : ` (${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]})`;
  return `${bytes} bytes${gloss}`;
}

/** What a value is, for a message: "Float64Array", "Array", "null", "string". */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'object';
}
