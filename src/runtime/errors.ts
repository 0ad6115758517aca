/** Every failure the library reports is one of these: `code` is stable, `message` names the problem. */
export class ResnetWebGpuError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** No `navigator.gpu`, no adapter, or the device could not be created. */
export class WebGpuUnavailableError extends ResnetWebGpuError {
  constructor(message: string) {
    super('webgpu-unavailable', message);
  }
}

/** A weights file is malformed, or does not fit the architecture. */
export class WeightsError extends ResnetWebGpuError {
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
  constructor(message: string) {
    super('bad-input', message);
  }
}

/** The GPU reported a validation or out-of-memory error, or the device was lost. */
export class GpuError extends ResnetWebGpuError {
  constructor(message: string) {
    super('gpu-error', message);
  }
}
