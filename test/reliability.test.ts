// Reliability of the library API: bad inputs and weights get typed errors; a lost device fails the
// calls that needed it and the next call recovers; concurrent calls and two models on one device
// each get their own correct result; dispose frees everything and later calls fail clearly; in
// Node on a CPU adapter, runs wait on a timer rather than on Dawn's ticks.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { create } from 'webgpu';
import { createGpu, createNodeGpu, DeviceLostError, DisposedError, GpuError, GpuLimitError, InputError, ResNetModel, WebGpuUnavailableError, WeightsError, type Gpu, type RgbaImage } from '../src/node';
import { randomInput, smallModel } from './small-model';

const SHAPE = [2, 3, 32, 32];

/** The error a promise rejects with (the test fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error) => e,
  );
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
/** A call made again once the model has tuned for its shape: later calls of that shape give the same bits (a shape's first run is untuned). */
async function tuned<T>(model: ResNetModel, call: () => Promise<T>): Promise<T> {
  await call();
  await model.idle();
  return call();
}

// One device for the tests that do not lose theirs or need other limits: each new device compiles
// the kernels again, which takes seconds on SwiftShader.
let gpu: Gpu;
beforeAll(async () => {
  gpu = await createNodeGpu();
});

describe('inputs', () => {
  let model: ResNetModel;
  beforeAll(async () => {
    model = await ResNetModel.load(gpu, smallModel());
  });
  afterAll(() => model.dispose());

  test.each<[string, unknown, unknown, RegExp]>([
    ['a Float64Array', new Float64Array(2 * 3 * 32 * 32), SHAPE, /^input must be a Float32Array \(float32 NCHW\), got Float64Array: convert it with Float32Array\.from\(input\)$/],
    ['a plain array', [1, 2, 3], [1, 3, 1, 1], /^input must be a Float32Array \(float32 NCHW\), got Array: convert it with Float32Array\.from\(input\)$/],
    ['null', null, SHAPE, /^input must be a Float32Array \(float32 NCHW\), got null$/],
    ['rank 3', new Float32Array(3 * 32 * 32), [3, 32, 32], /^input shape must be \[N, C, H, W\] with positive whole sizes, got \[3, 32, 32\]$/],
    ['a zero size', new Float32Array(0), [0, 3, 32, 32], /got \[0, 3, 32, 32\]$/],
    ['a fractional size', new Float32Array(96), [1, 3, 4, 8.5], /got \[1, 3, 4, 8\.5\]$/],
    ['no shape', new Float32Array(96), undefined, /got undefined$/],
    ['NHWC (channels last)', new Float32Array(2 * 32 * 32 * 3), [2, 32, 32, 3], /^input has 32 channels, resnet18 expects 3 \(shape \[N, C, H, W\], got \[2, 32, 32, 3\]\)$/],
    ['one channel', new Float32Array(2 * 32 * 32), [2, 1, 32, 32], /^input has 1 channels, resnet18 expects 3/],
    ['too few values', new Float32Array(100), SHAPE, /^input has 100 values, shape \[2, 3, 32, 32\] needs 6144$/],
  ])('%s is an InputError', async (_, input, shape, message) => {
    const error = await rejection(model.run(input as Float32Array, shape as number[]));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(message);
  });

  test('NaN and ±Infinity are refused, naming the first one by its NCHW index', async () => {
    for (const [value, index, at] of [
      [NaN, 0, '0, 0, 0, 0'],
      [Infinity, 3 * 1024 + 2 * 1024 + 5 * 32 + 7, '1, 2, 5, 7'],
      [-Infinity, 1024 + 31, '0, 1, 0, 31'],
    ] as const) {
      const input = randomInput(SHAPE, 1);
      input[index] = value;
      input[input.length - 1] = NaN; // a later one is not the one named
      const error = await rejection(model.run(input, SHAPE));
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe(`input[${at}] (flat index ${index}) is ${value}: inputs must be finite numbers`);
    }
  });

  test('a bad output option, and runNhwc4 with the wrong layout, are InputErrors', async () => {
    const input = randomInput(SHAPE, 1);
    expect(await rejection(model.run(input, SHAPE, { output: 'softmax' as 'logits' }))).toMatchObject({ code: 'bad-input', message: 'options.output must be "logits" or "probabilities", got "softmax"' });
    expect(await rejection(model.runNhwc4(input, { n: 2, h: 32, w: 32, c: 3 }))).toMatchObject({
      code: 'bad-input',
      message: 'runNhwc4 needs a Float32Array of 8192 values (NHWC, channels padded to 4), got Float32Array of 6144 values',
    });
  });

  test('an input too small for the architecture is an InputError; 1×1 works where the layers allow it', async () => {
    // dlib-style unpadded strided convolutions take a 1×1 map to 0×0.
    const unpadded = await ResNetModel.load(gpu, smallModel({ unpaddedStridedConvs: true, stem: { kernel: 3, stride: 1, pad: 1 } }));
    try {
      const error = await rejection(unpadded.run(new Float32Array(3), [1, 3, 1, 1]));
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe('input [N, C, H, W] = [1, 3, 1, 1] is too small for resnet18: activation "layer2.0.conv1" comes out empty');
    } finally {
      await unpadded.dispose();
    }
    const logits = await model.run(randomInput([1, 3, 1, 1], 2), [1, 3, 1, 1]);
    expect(logits.length).toBe(10);
    expect(logits.every(Number.isFinite)).toBe(true);
  });

  test.each<[string, unknown, RegExp]>([
    ['no images', [], /^runImages needs a non-empty array of images, got Array$/],
    ['not an array', 'cat.png', /^runImages needs a non-empty array of images, got string$/],
    ['null', [null], /^image 0: expected \{ data, width, height \} \(RGBA8 pixels, as a canvas's ImageData\), got null$/],
    ['a file\'s bytes', [new Uint8Array([0x89, 0x50, 0x4e, 0x47])], /^image 0: size undefined×undefined is not a positive whole number of pixels$/],
    ['a plain array of pixels', [{ data: [0, 0, 0, 255], width: 1, height: 1 }], /^image 0: data must be a Uint8Array or Uint8ClampedArray of RGBA bytes, got Array$/],
    ['float pixels', [{ data: new Float32Array(4), width: 1, height: 1 }], /^image 0: data must be a Uint8Array or Uint8ClampedArray of RGBA bytes, got Float32Array$/],
    ['RGB, not RGBA', [{ data: new Uint8Array(12), width: 2, height: 2 }], /^image 0: 2×2 RGBA needs 16 bytes, got 12$/],
    ['a 0×0 image', [{ data: new Uint8Array(0), width: 0, height: 0 }], /^image 0: size 0×0 is not a positive whole number of pixels$/],
  ])('runImages: %s is an InputError', async (_, images, message) => {
    const error = await rejection(model.runImages(images as RgbaImage[]));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(message);
  });

  test('runImages on a 1-channel model is an InputError', async () => {
    const gray = await ResNetModel.load(gpu, smallModel({ inputChannels: 1 }));
    try {
      const error = await rejection(gray.runImages([{ data: new Uint8Array(4), width: 1, height: 1 }]));
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toBe('image input needs a 3-channel model; resnet18 takes 1');
    } finally {
      await gray.dispose();
    }
  });

  test('runImages: a 1×1 image, and pixels at an odd byte offset, classify', async () => {
    const one = await model.runImages([{ data: new Uint8Array([200, 100, 50, 255]), width: 1, height: 1 }]);
    expect(one.every(Number.isFinite)).toBe(true);
    // A subarray at offset 1 cannot be viewed as u32 pixels: it is copied, and gives the same result.
    const pixels = Uint8Array.from({ length: 17 * 13 * 4 }, (_, i) => (i * 37) % 256);
    const shifted = new Uint8Array(pixels.length + 1);
    shifted.set(pixels, 1);
    const aligned = await model.runImages([{ data: pixels, width: 17, height: 13 }]);
    const unaligned = await model.runImages([{ data: shifted.subarray(1), width: 17, height: 13 }]);
    expect(bits(unaligned)).toEqual(bits(aligned));
  });
});

describe('weights and device limits', () => {
  test('non-finite or short weights are WeightsErrors naming the tensor', async () => {
    const before = gpu.liveBuffers;
    const nan = smallModel();
    nan.tensors.get('layer2.0.conv1.weight')!.data[7] = NaN;
    expect(await rejection(ResNetModel.load(gpu, nan, 'nan.safetensors'))).toMatchObject({
      name: 'WeightsError',
      message: 'nan.safetensors (tensor "layer2.0.conv1.weight"): value 7 is NaN: weights must be finite',
    });
    const short = smallModel();
    short.tensors.get('fc.bias')!.data = new Float32Array(3);
    expect(await rejection(ResNetModel.load(gpu, short, 'short.pth'))).toMatchObject({ name: 'WeightsError', message: 'short.pth (tensor "fc.bias"): holds 3 values, shape [10] needs 10' });
    expect(await rejection(ResNetModel.load(gpu, {} as never))).toBeInstanceOf(WeightsError);
    expect(gpu.liveBuffers).toBe(before);
  });

  test('a config or meta that cannot describe a model (as a damaged shard index gives) is a WeightsError, found at once', async () => {
    const cases: [Partial<ReturnType<typeof smallModel>>, string][] = [
      [{ config: { ...smallModel().config, layers: [1, 1, 1, 1e9] } }, 'model.json: config.layers [1,1,1,1000000000] is not a list of block counts (at most 10000 in all)'],
      [{ config: { ...smallModel().config, stem: { kernel: 7, stride: 0, pad: 3 } } }, 'model.json: config.stem {"kernel":7,"stride":0,"pad":3} is not a { kernel, stride, pad, pool? } of whole numbers'],
      [{ meta: { labels: ['cat', 'dog'] } }, 'model.json: meta.labels must be 10 strings, one a class'],
      [{ meta: { preprocess: { resize: 256, cropH: 224, cropW: 224, mean: [0, 0, 0], std: [0, 1, 1], grayscale: false } } }, 'model.json: meta.preprocess {"resize":256,"cropH":224,"cropW":224,"mean":[0,0,0],"std":[0,1,1],"grayscale":false} is not { resize, cropH, cropW (positive sizes), mean, std (three numbers, std positive), grayscale }'],
    ];
    for (const [change, message] of cases) {
      const error = await rejection(ResNetModel.load(gpu, { ...smallModel(), ...change }, 'model.json'));
      expect(error).toBeInstanceOf(WeightsError);
      expect(error.message).toBe(message);
    }
  });

  // WebGPU's default limits (every device has at least these): 128 MiB a binding, 256 MiB a buffer.
  let limited: Gpu;
  beforeAll(async () => {
    limited = await createNodeGpu({ requiredLimits: { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 } });
  });

  test('a model too big for a binding fails at load, naming the tensor and the limit, before any GPU buffer stays', async () => {
    const gpu = limited;
    // 2.2 million classes: fc.weight is 2.2M × 16 floats = 140.8 MB, past 128 MiB.
    const error = await rejection(ResNetModel.load(gpu, smallModel({ numClasses: 2_200_000 }), 'huge.safetensors'));
    expect(error).toBeInstanceOf(GpuLimitError);
    expect(error).toMatchObject({ code: 'gpu-limit', limit: 'maxStorageBufferBindingSize', max: 2 ** 27 });
    expect(error.message).toBe(
      'huge.safetensors: tensor "fc.weight" (as laid out for the GPU) needs 140800000 bytes (134.3 MiB), more than this device\'s maxStorageBufferBindingSize of 134217728 bytes (128 MiB): the model is too large for this device',
    );
    expect([gpu.liveBuffers, gpu.liveBytes]).toEqual([0, 0]);
  });

  test('an input whose activations pass a limit fails naming the activation; the model still runs smaller inputs', async () => {
    const gpu = limited;
    const model = await ResNetModel.load(gpu, smallModel({ stemWidth: 64 }));
    const before = gpu.liveBuffers;
    // The 64-channel stem output of a 1450×1450 image is 725 × 725 × 64 floats.
    const shape = [1, 3, 1450, 1450];
    const error = await rejection(model.run(new Float32Array(3 * 1450 * 1450), shape));
    expect(error).toBeInstanceOf(GpuLimitError);
    expect(error.message).toBe(
      'input [N, C, H, W] = [1, 3, 1450, 1450]: activation "conv1" needs 134560000 bytes (128.3 MiB), more than this device\'s maxStorageBufferBindingSize of 134217728 bytes (128 MiB): use a smaller batch or image size',
    );
    expect(gpu.liveBuffers).toBe(before);
    expect((await model.run(randomInput(SHAPE, 3), SHAPE)).length).toBe(20);
    await model.dispose();
  });

  test('a 16384×16384 image (1 GiB of pixels) is shrunk on the CPU to fit a 128 MiB binding, and classifies', async () => {
    const gpu = limited;
    const model = await ResNetModel.load(gpu, smallModel());
    const side = 16384;
    const data = new Uint8Array(side * side * 4);
    // Left half white, right half black: a 3×3 box filter keeps that, so the result matches a small image of it.
    for (let y = 0; y < side; y++) data.fill(255, y * side * 4, y * side * 4 + side * 2);
    const big = await model.runImages([{ data, width: side, height: side }]);
    const small = new Uint8Array(64 * 64 * 4);
    for (let y = 0; y < 64; y++) small.fill(255, y * 64 * 4, y * 64 * 4 + 128);
    const reference = await model.runImages([{ data: small, width: 64, height: 64 }]);
    expect(big.every(Number.isFinite)).toBe(true);
    for (let i = 0; i < 10; i++) expect(big[i]).toBeCloseTo(reference[i], 1);
    await model.dispose();
    expect(gpu.liveBuffers).toBe(0);
  });
});

describe('device loss', () => {
  // Its own device, lost again and again: every loss costs a new one.
  let gpu: Gpu;
  let dawn: GPU;
  beforeAll(async () => {
    gpu = await createNodeGpu();
    // After createNodeGpu, which points Dawn at SwiftShader when there is no GPU.
    dawn = create([]);
  });
  afterAll(() => expect([gpu.liveBuffers, gpu.liveBytes]).toEqual([0, 0]));

  test('lost between calls: the next call makes a new device, uploads the weights again, and gives the same logits', async () => {
    const model = await ResNetModel.load(gpu, smallModel());
    const input = randomInput(SHAPE, 4);
    const expected = await tuned(model, () => model.run(input, SHAPE));
    const [buffers, bytes, generation] = [gpu.liveBuffers, gpu.liveBytes, gpu.generation];
    const first = gpu.device;
    first.destroy();
    await first.lost;
    expect(gpu.lost).toEqual({ reason: 'destroyed', message: expect.any(String) });
    expect(bits(await model.run(input, SHAPE))).toEqual(bits(expected));
    expect(gpu.device).not.toBe(first);
    expect(gpu.generation).toBe(generation + 1);
    expect(gpu.lost).toBeUndefined();
    // The lost device's buffers were released and the same set made again.
    expect([gpu.liveBuffers, gpu.liveBytes]).toEqual([buffers, bytes]);
    await model.dispose();
  });

  test('lost during a call: that call rejects with a DeviceLostError, the calls queued behind it succeed', async () => {
    const model = await ResNetModel.load(gpu, smallModel());
    // A larger input, so the first call is still on the GPU (half a second on SwiftShader) when the device goes.
    const big = [4, 3, 160, 160];
    const [a, b] = [randomInput(big, 5), randomInput(SHAPE, 6)];
    const expectedB = await tuned(model, () => model.run(b, SHAPE));
    await tuned(model, () => model.run(a, big)); // builds the schedule: the call below only runs
    const submit = vi.spyOn(gpu.device.queue, 'submit');
    const inFlight = model.run(a, big);
    const queued = model.run(b, SHAPE);
    await vi.waitFor(() => expect(submit).toHaveBeenCalled(), { interval: 1 });
    gpu.device.destroy();
    const error = await rejection(inFlight);
    expect(error).toBeInstanceOf(DeviceLostError);
    expect(error).toMatchObject({ code: 'device-lost', reason: 'destroyed' });
    expect(error.message).toMatch(/^the GPU device was lost during this call \(destroyed: .*\); the next call makes a new device and uploads the weights again$/);
    expect(bits(await queued)).toEqual(bits(expectedB));
    await model.dispose();
  });

  test('lost right after an idle call put its input on it: that call rejects with a DeviceLostError, the next succeeds', async () => {
    const model = await ResNetModel.load(gpu, smallModel());
    const input = randomInput(SHAPE, 7);
    const expected = await tuned(model, () => model.run(input, SHAPE));
    const call = model.run(input, SHAPE);
    gpu.device.destroy();
    await expect(call).rejects.toBeInstanceOf(DeviceLostError);
    expect(bits(await model.run(input, SHAPE))).toEqual(bits(expected));
    await model.dispose();
  });

  test('two models on one device both recover after it is lost', async () => {
    const [m1, m2] = await Promise.all([ResNetModel.load(gpu, smallModel({}, 1)), ResNetModel.load(gpu, smallModel({ numClasses: 7 }, 2))]);
    const input = randomInput(SHAPE, 7);
    const [e1, e2] = await Promise.all([tuned(m1, () => m1.run(input, SHAPE)), tuned(m2, () => m2.run(input, SHAPE))]);
    const generation = gpu.generation;
    gpu.device.destroy();
    await gpu.device.lost;
    const [r1, r2] = await Promise.all([m1.run(input, SHAPE), m2.run(input, SHAPE)]);
    expect(bits(r1)).toEqual(bits(e1));
    expect(bits(r2)).toEqual(bits(e2));
    // One new device, however many models noticed the loss.
    expect(gpu.generation).toBe(generation + 1);
    await Promise.all([m1.dispose(), m2.dispose()]);
  });

  test('no adapter to replace the lost device: the call fails with WebGpuUnavailableError, a later one recovers', async () => {
    // A GPU whose adapter requests fail on demand, over a Dawn instance kept for the whole file.
    let refuse = false;
    const flaky = { requestAdapter: (options?: GPURequestAdapterOptions) => (refuse ? Promise.resolve(null) : dawn.requestAdapter(options)) } as GPU;
    const own = await createGpu(flaky, { forceFallbackAdapter: gpu.adapter.isFallbackAdapter });
    const model = await ResNetModel.load(own, smallModel());
    const input = randomInput(SHAPE, 10);
    const expected = await tuned(model, () => model.run(input, SHAPE));
    own.device.destroy();
    await own.device.lost;
    refuse = true;
    const error = await rejection(model.run(input, SHAPE));
    expect(error).toBeInstanceOf(WebGpuUnavailableError);
    expect(error.message).toMatch(/^WebGPU is present but returned no adapter/);
    refuse = false;
    expect(bits(await model.run(input, SHAPE))).toEqual(bits(expected));
    await model.dispose();
    expect(own.liveBuffers).toBe(0);
  });

  test('lost during load, or before it: the model loads, and its first call runs on a new device', async () => {
    const generation = gpu.generation;
    const loading = ResNetModel.load(gpu, smallModel({ numClasses: 3 }));
    gpu.device.destroy();
    const model = await loading;
    const input = randomInput(SHAPE, 8);
    const logits = await model.run(input, SHAPE);
    expect(gpu.generation).toBe(generation + 1);
    gpu.device.destroy();
    await gpu.device.lost;
    const again = await ResNetModel.load(gpu, smallModel({ numClasses: 3 }));
    expect(gpu.generation).toBe(generation + 2);
    expect(bits(await again.run(input, SHAPE))).toEqual(bits(logits));
    await Promise.all([model.dispose(), again.dispose()]);
  });
});

describe('GPU errors are surfaced', () => {
  // Sabotage: destroy one of the model's weight buffers behind its back, so the next submit is invalid.
  const sabotage = (model: ResNetModel): void => (model as unknown as { weights: { get(name: string): GPUBuffer } }).weights.get('fc.weight').destroy();

  test('debug mode: a validation error in a run rejects that run with a GpuError', async () => {
    const model = await ResNetModel.load(gpu, smallModel());
    gpu.debug = true;
    try {
      sabotage(model);
      const error = await rejection(model.run(randomInput(SHAPE, 9), SHAPE));
      expect(error).toBeInstanceOf(GpuError);
      expect(error).toMatchObject({ code: 'gpu-validation' });
      expect(error.message).toMatch(/^running the model: WebGPU validation error: .*fc\.weight.* destroyed/is);
    } finally {
      gpu.debug = false;
      await model.dispose();
    }
  });

  test('without debug mode it is still reported, on the console, and the result is NaN (not the last run\'s)', async () => {
    const model = await ResNetModel.load(gpu, smallModel());
    const console = vi.spyOn(globalThis.console, 'error').mockImplementation(() => undefined);
    try {
      expect((await model.run(randomInput(SHAPE, 8), SHAPE)).every(Number.isFinite)).toBe(true);
      sabotage(model);
      expect((await model.run(randomInput(SHAPE, 9), SHAPE)).every(Number.isNaN)).toBe(true);
      await vi.waitFor(() => expect(console).toHaveBeenCalledWith(expect.stringMatching(/^resnet-webgpu: WebGPU error: .*fc\.weight.* destroyed/is)));
    } finally {
      console.mockRestore();
      await model.dispose();
    }
  });
});

describe('concurrency and lifetime', () => {

  test('concurrent calls with interleaved inputs and shapes, on two models sharing a device, each get their own result', async () => {
    const before = gpu.liveBuffers;
    const models = await Promise.all([ResNetModel.load(gpu, smallModel({}, 11)), ResNetModel.load(gpu, smallModel({ numClasses: 5, widths: [4, 8, 8, 12] }, 12))]);
    const calls = [
      { model: 0, shape: [1, 3, 32, 32], seed: 1 },
      { model: 1, shape: [2, 3, 24, 40], seed: 2 },
      { model: 0, shape: [3, 3, 17, 29], seed: 3 },
      { model: 0, shape: [1, 3, 32, 32], seed: 4 },
      { model: 1, shape: [1, 3, 32, 32], seed: 5 },
      { model: 0, shape: [2, 3, 24, 40], seed: 6 },
      { model: 1, shape: [2, 3, 24, 40], seed: 7 },
    ].map((c) => ({ ...c, input: randomInput(c.shape, c.seed) }));
    // One at a time first: the reference for each call.
    const expected: Float32Array[] = [];
    for (const c of calls) expected.push(await tuned(models[c.model], () => models[c.model].run(c.input, c.shape)));
    // Then all at once (images too), twice over, so shapes keep changing under queued calls.
    const image = { data: Uint8Array.from({ length: 20 * 20 * 4 }, (_, i) => i % 251), width: 20, height: 20 };
    const expectedImage = await tuned(models[1], () => models[1].runImages([image]));
    const results = await Promise.all([...calls, ...calls].map((c, i) => (i === 5 ? models[1].runImages([image]) : models[c.model].run(c.input, c.shape))));
    results.forEach((r, i) => expect(bits(r), `call ${i}`).toEqual(bits(i === 5 ? expectedImage : expected[i % calls.length])));
    await Promise.all(models.map((m) => m.dispose()));
    expect(gpu.liveBuffers).toBe(before);
  });

  test('a run copies its input when called: refilling the array at once changes no result, whether the run waits its turn or not', async () => {
    const model = await ResNetModel.load(gpu, smallModel({}, 13), 'small', { kernels: ['register'], winograd: 'never' });
    const inputs = [1, 2, 3].map((seed) => randomInput(SHAPE, seed));
    const expected: Float32Array[] = [];
    for (const x of inputs) expected.push(await model.run(x.slice(), SHAPE));
    // The first call finds the model idle (its input goes straight into the upload buffer); the others wait their turn, each with a copy.
    const results = Promise.all(inputs.map((x) => model.run(x, SHAPE)));
    for (const x of inputs) x.fill(Number.NaN);
    (await results).forEach((r, i) => expect(bits(r), `call ${i}`).toEqual(bits(expected[i])));
    // Idle again: staged at once as well.
    const again = randomInput(SHAPE, 1);
    const next = model.run(again, SHAPE);
    again.fill(0);
    expect(bits(await next)).toEqual(bits(expected[0]));
    await model.dispose();
  });

  test('dispose frees every buffer; later calls reject with a DisposedError', async () => {
    const [buffers, bytes] = [gpu.liveBuffers, gpu.liveBytes];
    const model = await ResNetModel.load(gpu, smallModel());
    await model.run(randomInput(SHAPE, 1), SHAPE);
    await model.runImages([{ data: new Uint8Array(16 * 16 * 4), width: 16, height: 16 }]);
    expect(gpu.liveBuffers).toBeGreaterThan(buffers);
    await model.dispose();
    expect([gpu.liveBuffers, gpu.liveBytes]).toEqual([buffers, bytes]);
    for (const call of [() => model.run(randomInput(SHAPE, 1), SHAPE), () => model.runImages([{ data: new Uint8Array(4), width: 1, height: 1 }]), () => model.scheduleFor({ n: 1, h: 8, w: 8, c: 3 })]) {
      const error = await rejection(call());
      expect(error).toBeInstanceOf(DisposedError);
      expect(error).toMatchObject({ code: 'disposed', message: 'this model was disposed; load it again to run it' });
    }
    await model.dispose(); // twice is fine
  });

  test('dispose while calls are pending: they complete, later calls reject, then everything is freed', async () => {
    const [buffers, bytes] = [gpu.liveBuffers, gpu.liveBytes];
    const model = await ResNetModel.load(gpu, smallModel());
    const input = randomInput(SHAPE, 2);
    const expected = await tuned(model, () => model.run(input, SHAPE));
    const pending = [model.run(input, SHAPE), model.run(input, SHAPE)];
    const disposed = model.dispose();
    expect(await rejection(model.run(input, SHAPE))).toBeInstanceOf(DisposedError);
    for (const result of await Promise.all(pending)) expect(bits(result)).toEqual(bits(expected));
    await disposed;
    expect([gpu.liveBuffers, gpu.liveBytes]).toEqual([buffers, bytes]);
  });
});

describe('waiting on the GPU', () => {
  test('in Node on a fallback adapter, a run asks for its result once most of its expected time has passed (Dawn ticks a core while a map is pending); the results are the same', async () => {
    expect(gpu.spinsWhileWaiting).toBe(gpu.adapter.isFallbackAdapter);
    const model = await ResNetModel.load(gpu, smallModel());
    const shape = [4, 3, 64, 64];
    const input = randomInput(shape, 7);
    await tuned(model, () => model.run(input, shape));
    // When each run's first map request comes, after its submit.
    const { submit } = GPUQueue.prototype;
    const { mapAsync } = GPUBuffer.prototype;
    let submitted = 0;
    let firstMap = Infinity;
    GPUQueue.prototype.submit = function (this: GPUQueue, ...args: Parameters<GPUQueue['submit']>) {
      submitted = performance.now();
      return submit.apply(this, args);
    };
    GPUBuffer.prototype.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
      firstMap = Math.min(firstMap, performance.now() - submitted);
      return mapAsync.apply(this, args);
    };
    const spins = gpu.spinsWhileWaiting;
    /** 7 runs with waits held off or not: the medians of the last 4 (the hold learns from the runs before) of the run's time and its first map's delay, and the last result. */
    const runs = async (held: boolean): Promise<{ ms: number; mapAfterMs: number; logits: Float32Array }> => {
      gpu.spinsWhileWaiting = held;
      const times: number[] = [];
      const delays: number[] = [];
      let logits: Float32Array = new Float32Array();
      for (let i = 0; i < 7; i++) {
        firstMap = Infinity;
        const start = performance.now();
        logits = await model.run(input, shape);
        times.push(performance.now() - start);
        delays.push(firstMap);
      }
      const median = (xs: number[]): number => xs.slice(3).sort((a, b) => a - b)[2];
      return { ms: median(times), mapAfterMs: median(delays), logits };
    };
    try {
      const spinning = await runs(false);
      const held = await runs(true);
      expect(bits(held.logits)).toEqual(bits(spinning.logits));
      // Asked for at once without the hold; with it, once most of the run has passed (the hold
      // goes by the fastest of the last runs, and these small runs vary by ±30%).
      expect(spinning.mapAfterMs, `a run: ${spinning.ms.toFixed(1)} ms`).toBeLessThan(0.1 * spinning.ms);
      expect(held.mapAfterMs, `a run: ${held.ms.toFixed(1)} ms`).toBeGreaterThan(0.3 * held.ms);
    } finally {
      GPUQueue.prototype.submit = submit;
      GPUBuffer.prototype.mapAsync = mapAsync;
      gpu.spinsWhileWaiting = spins;
      await model.dispose();
    }
  });
});
