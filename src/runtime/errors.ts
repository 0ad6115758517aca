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

/** The GPU reported a validation or out-of-memory error, or the device was lost. */
export class GpuError extends ResnetWebGpuError {
  override name = 'GpuError';
  constructor(message: string) {
    super('gpu-error', message);
  }
}
