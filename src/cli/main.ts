// The `resnet-webgpu` command: classify images, evaluate on Fashion-MNIST, run a ResNet on an .npy
// batch, describe or convert a weights file.
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { access, constants, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { SUPPORTED_FORMATS } from '../model/load';
import { ARCHITECTURES, createNodeGpu, describeAdapter, describeKernelChoices, InputError, readWeightsFile, ResNetModel, ResnetWebGpuError, writeShards, type PreparedWeights, type WeightOptions } from '../node';
import { decodeImage } from './decode';
import { DEBIAN_FASHION_MNIST, grayToRgba, readFashionMnistTest } from './fashion-mnist';
import { classNames, DEFAULT_MODEL, readLabels, readPreprocess, REFERENCE_PREDICTIONS } from './models';
import { readNpy, writeNpy } from './npy';

interface ModelOptions {
  model: string;
  arch?: string;
  variant?: WeightOptions['variant'];
}

const seconds = (since: number): string => `${((performance.now() - since) / 1000).toFixed(2)} s`;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** `HxW`, or one number for a square. */
function parseSize(value: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/i.exec(value.trim());
  const [h, w] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [0, 0];
  if (!(h > 0 && w > 0)) throw new InvalidArgumentError('expected HxW, e.g. 224x224');
  return [h, w];
}

const MODEL_HELP = `weights (a path, an http(s) URL or hf:owner/repo[@revision]): ${SUPPORTED_FORMATS}`;

const archOptions = (command: Command): Command =>
  command
    .addOption(new Option('--arch <name>', 'architecture, instead of inferring it from the weights').choices(Object.keys(ARCHITECTURES)))
    .addOption(new Option('--variant <variant>', 'where bottlenecks stride: v1.5 (torchvision, in the 3x3) or v1 (in the first 1x1); torchvision files do not record it, so v1.5 unless given').choices(['v1', 'v1.5']));

/** --model (required, or the bundled model when `bundled`), --arch and --variant. */
const modelOptions = (command: Command, bundled = false): Command =>
  archOptions(bundled ? command.addOption(new Option('-m, --model <file>', MODEL_HELP).default(DEFAULT_MODEL, 'the bundled Fashion-MNIST ResNet-18')) : command.requiredOption('-m, --model <file>', MODEL_HELP));

async function readWeights(options: ModelOptions): Promise<{ weights: PreparedWeights; readSeconds: string }> {
  const t = performance.now();
  const weights = await readWeightsFile(options.model, { arch: options.arch, variant: options.variant });
  return { weights, readSeconds: seconds(t) };
}

/** Every model the command loaded, disposed before the process exits (at the end of this file). */
const loaded: ResNetModel[] = [];

async function loadModel(weights: PreparedWeights, source: string): Promise<{ model: ResNetModel; loadSeconds: string }> {
  const gpu = await createNodeGpu();
  log(`adapter: ${describeAdapter(gpu.adapter)}`);
  const t = performance.now();
  const model = await ResNetModel.load(gpu, weights, source);
  loaded.push(model);
  return { model, loadSeconds: seconds(t) };
}

async function infer(options: ModelOptions & { input: string; output: string }): Promise<void> {
  // The input and the output's folder are checked before the (slow) model load, so bad paths fail at once.
  const input = readNpy(await readFile(options.input), options.input);
  await access(dirname(resolve(options.output)), constants.W_OK);
  const { weights, readSeconds } = await readWeights(options);
  const c = weights.config.inputChannels;
  if (input.shape.length !== 4 || input.shape[1] !== c) {
    throw new InputError(`${options.input}: shape [${input.shape}] is not [N, ${c}, H, W]: ${weights.config.arch} takes ${c}-channel float32 NCHW batches, normalised`);
  }
  const { model, loadSeconds } = await loadModel(weights, options.model);
  const t = performance.now();
  // One run: disposed as it settles, the model drops the tuning queued behind it (not started yet).
  const logits = await model.run(input.data, input.shape).finally(() => void model.dispose());
  const runSeconds = seconds(t);
  const [n, , h, w] = input.shape;
  await writeFile(options.output, writeNpy(logits, [n, model.config.numClasses]));
  log(`${model.config.arch} (${model.config.variant}, ${model.config.numClasses} classes): read weights ${readSeconds}, load ${loadSeconds}, inference ${runSeconds} for ${n}x${c}x${h}x${w}`);
  log(`wrote ${options.output} [${n}, ${model.config.numClasses}]`);
}

async function info(options: ModelOptions & { batch: number; size: [number, number]; json?: boolean }): Promise<void> {
  const { model } = await loadModel((await readWeights(options)).weights, options.model);
  const [h, w] = options.size;
  await model.scheduleFor({ n: options.batch, h, w, c: model.config.inputChannels });
  const memory = model.memory();
  const kernels = model.kernelChoices();
  const { arch, variant, block, layers, numClasses, inputChannels } = model.config;
  const report = {
    model: options.model,
    arch,
    variant,
    block,
    layers,
    classes: numClasses,
    inputChannels,
    parameters: model.parameterCount,
    weightBytes: memory.weightBytes,
    memoryPlan: {
      batch: options.batch,
      height: h,
      width: w,
      activationBytes: memory.activationBytes,
      unplannedActivationBytes: memory.unplannedActivationBytes,
      activationBuffers: memory.activationBuffers,
      largestLivePairBytes: memory.largestLivePairBytes,
      largestLiveBytes: memory.largestLiveBytes,
    },
    adapter: describeAdapter(model.gpu.adapter),
    kernels,
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const rows: [string, string][] = [
    ['model', report.model],
    ['architecture', `${arch} (${variant}, ${block} blocks [${layers}])`],
    ['classes', String(numClasses)],
    ['input channels', String(inputChannels)],
    ['parameters', report.parameters.toLocaleString('en-US')],
    ['weight bytes', `${report.weightBytes.toLocaleString('en-US')} (${mib(report.weightBytes)}) on the GPU`],
    [
      'memory plan',
      `batch ${options.batch} at ${h}x${w}: activations ${mib(memory.activationBytes)} in ${memory.activationBuffers} buffers (${mib(memory.unplannedActivationBytes)} unplanned; the two largest live at once: ${mib(memory.largestLivePairBytes)}, all live at the fullest step: ${mib(memory.largestLiveBytes)})`,
    ],
    ['conv kernels', describeKernelChoices(kernels)],
  ];
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(15)}${v}\n`).join(''));
}

async function convert(input: string, options: Omit<ModelOptions, 'model'> & { out: string; dtype: 'f32' | 'f16'; labels?: string; preprocess?: string; shardBytes: number }): Promise<void> {
  const { weights } = await readWeights({ ...options, model: input });
  // A shard index keeps its meta unless --labels/--preprocess replace it.
  if (options.labels) weights.meta = { ...weights.meta, labels: await readLabels(options.labels, weights.config.numClasses) };
  if (options.preprocess) weights.meta = { ...weights.meta, preprocess: await readPreprocess(options.preprocess) };
  const { index, files } = await writeShards(weights, { dtype: options.dtype, maxShardBytes: options.shardBytes });
  await mkdir(options.out, { recursive: true });
  for (const [name, bytes] of files) await writeFile(join(options.out, name), bytes);
  const indexFile = join(options.out, 'model.json');
  await writeFile(indexFile, `${JSON.stringify(index, null, 1)}\n`);
  const bytes = index.shards.reduce((a, s) => a + s.bytes, 0);
  log(`wrote ${indexFile}: ${weights.config.arch}, ${weights.tensors.size} tensors as ${options.dtype}, ${bytes.toLocaleString('en-US')} bytes in ${files.size} shard${files.size === 1 ? '' : 's'}`);
}

interface Ranked {
  index: number;
  label: string;
  probability: number;
}

/** The k most probable classes, most probable first. */
function topK(probabilities: Float32Array, labels: string[], k: number): Ranked[] {
  return [...probabilities]
    .map((probability, index) => ({ index, label: labels[index], probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k);
}

async function classify(files: string[], options: ModelOptions & { top: number; json?: boolean }): Promise<void> {
  // Every file is decoded before the (slow) model load, so a bad image fails at once.
  const images = await Promise.all(files.map(async (file) => decodeImage(await readFile(file), file)));
  const { weights } = await readWeights(options);
  const { model } = await loadModel(weights, options.model);
  const labels = classNames(model.config, model.meta.labels);
  const results: { file: string; top: Ranked[]; ms: number }[] = [];
  // One image at a time, so each gets its own time; the batch-of-one schedule is reused throughout.
  for (const [i, image] of images.entries()) {
    const t = performance.now();
    const probabilities = await model.runImages([image], { output: 'probabilities' });
    const ms = Math.round((performance.now() - t) * 10) / 10;
    results.push({ file: files[i], top: topK(probabilities, labels, options.top), ms });
    if (!options.json) {
      const rows = results[i].top.map((r) => `  ${(100 * r.probability).toFixed(2).padStart(6)}%  ${r.label}\n`);
      process.stdout.write(`${files[i]} (${ms.toFixed(1)} ms)\n${rows.join('')}`);
    }
  }
  if (options.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

async function evaluate(options: ModelOptions & { data: string; limit?: number; batch: number; json?: boolean }): Promise<void> {
  const test = await readFashionMnistTest(options.data);
  const count = Math.min(options.limit ?? test.count, test.count);
  // PyTorch's predictions for the same weights, when the model ships them (the bundled one does).
  const referenceFile = join(dirname(resolve(options.model)), REFERENCE_PREDICTIONS);
  const reference = existsSync(referenceFile) ? new Uint8Array(await readFile(referenceFile)) : undefined;
  if (reference && reference.length !== test.count) throw new InputError(`${referenceFile}: ${reference.length} predictions for a test set of ${test.count} images`);
  const { weights } = await readWeights(options);
  if (weights.config.numClasses !== 10) throw new InputError(`${options.model}: Fashion-MNIST has 10 classes, the model has ${weights.config.numClasses}`);
  const { model, loadSeconds } = await loadModel(weights, options.model);
  const bar = process.stderr.isTTY && !options.json ? new cliProgress.SingleBar({ format: 'eval [{bar}] {value}/{total} images | {duration_formatted} | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(count, 0);
  let correct = 0;
  let agree = 0;
  const pixels = test.size * test.size;
  const t = performance.now();
  try {
    for (let start = 0; start < count; start += options.batch) {
      const n = Math.min(options.batch, count - start);
      const images = Array.from({ length: n }, (_, i) => grayToRgba(test.images.subarray((start + i) * pixels, (start + i + 1) * pixels), test.size, test.size));
      const logits = await model.runImages(images);
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
        if (best === test.labels[start + i]) correct++;
        if (best === reference?.[start + i]) agree++;
      }
      bar?.update(start + n);
    }
  } finally {
    // Gives the terminal its cursor back, also when a batch fails.
    bar?.stop();
  }
  const ms = Math.round(performance.now() - t);
  const report = { images: count, accuracy: correct / count, agreement: reference ? agree / count : null, ms };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ['model', `${options.model} (loaded in ${loadSeconds})`],
    ['images', `${count} of ${test.count} (Fashion-MNIST test set, ${options.data})`],
    ['accuracy', `${(100 * report.accuracy).toFixed(2)}% (${correct}/${count})`],
    ['agreement', reference ? `${(100 * agree / count).toFixed(2)}% with PyTorch's predictions (${count - agree} differ)` : `n/a (no ${REFERENCE_PREDICTIONS} beside the model)`],
    ['time', `${(ms / 1000).toFixed(1)} s, ${(ms / count).toFixed(1)} ms an image (batches of ${options.batch}, preprocessing on the GPU)`],
  ];
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(11)}${v}\n`).join(''));
}

/** One paragraph for the user: our errors are written for them; file errors get their path. */
function describeFailure(e: unknown): string {
  if (e instanceof ResnetWebGpuError) return e.message;
  // Node's file errors already read "ENOENT: no such file or directory, open '<path>'".
  if (typeof (e as NodeJS.ErrnoException)?.code === 'string') return (e as Error).message;
  return `${e instanceof Error ? e.message : String(e)} (rerun with --debug for the stack trace)`;
}

const program = new Command('resnet-webgpu')
  .description('ResNet inference on WebGPU (Dawn in Node; SwiftShader when there is no GPU)')
  .option('--debug', 'print stack traces of failures')
  .showHelpAfterError('(add --help for usage)');

modelOptions(program.command('classify').description('classify PNG or JPEG images (preprocessed on the GPU as the model says)').argument('<images...>', 'PNG or JPEG files'), true)
  .option('-k, --top <k>', 'how many classes to list', parsePositive, 5)
  .option('--json', 'print the results as JSON')
  .action(classify);

modelOptions(program.command('eval').description('accuracy on the Fashion-MNIST test set, and agreement with PyTorch'), true)
  .option('--data <dir>', 'folder with t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)', DEBIAN_FASHION_MNIST)
  .option('-n, --limit <n>', 'only the first n test images', parsePositive)
  .option('-b, --batch <n>', 'images per GPU submit', parsePositive, 100)
  .option('--json', 'print {"images", "accuracy", "agreement", "ms"}: agreement is null without PyTorch\'s predictions beside the model, ms excludes the model load')
  .action(evaluate);

modelOptions(program.command('infer').description('run a batch of images through the model'))
  .requiredOption('-i, --input <file.npy>', 'float32 NCHW batch [N, 3, H, W], already normalised')
  .requiredOption('-o, --output <file.npy>', 'where to write the float32 logits [N, classes]')
  .action(infer);

modelOptions(program.command('info').description('architecture, parameters and memory plan of a weights file'))
  .option('-b, --batch <n>', 'batch size for the memory plan', parsePositive, 1)
  .addOption(new Option('-s, --size <HxW>', 'input size for the memory plan').argParser(parseSize).default([224, 224], '224x224'))
  .option('--json', 'print the report as JSON')
  .action(info);

archOptions(program.command('convert'))
  .description('write weights as a resnet-webgpu shard index (model.json) and shards')
  .argument('<weights>', SUPPORTED_FORMATS)
  .requiredOption('-o, --out <dir>', 'folder for model.json and the shards')
  .addOption(new Option('--dtype <dtype>', 'stored precision').choices(['f32', 'f16']).default('f32'))
  .option('--labels <file>', 'class names: a JSON array, or a text file with one a line')
  .option('--preprocess <json>', 'how images become input, as JSON or a JSON file: {"resize", "cropH", "cropW", "mean", "std", "grayscale"}')
  .option('--shard-bytes <n>', 'largest shard size in bytes', parsePositive, 4 * 1024 * 1024)
  .action(convert);

program
  .command('bench')
  .description('speed against onnxruntime-web and TensorFlow.js in headless Chromium; needs a clone of the repository with its dev dependencies (see `resnet-webgpu bench --help`)')
  .argument('[options...]', 'passed to the benchmark: --model, --engines, --runs, --warmup, --batch, --size, --profile, --runtime, --json')
  .allowUnknownOption()
  .helpOption(false)
  .action(async (args: string[]) => {
    // The benchmark lives beside dist/ in a clone, not in the published package.
    const script = new URL(/* @vite-ignore */ '../bench/run.mjs', import.meta.url);
    if (!existsSync(script)) throw new ResnetWebGpuError('no-bench', 'the benchmark runs from a clone of the repository (npm run bench), not from the installed package');
    const { bench } = (await import(/* @vite-ignore */ script.href)) as { bench: (argv: string[]) => Promise<number> };
    if ((await bench(args)) !== 0) throw new ResnetWebGpuError('bench-failed', 'the benchmark failed (see above)');
  });

let code = 0;
try {
  await program.parseAsync();
} catch (e) {
  log(program.opts().debug && e instanceof Error && e.stack ? e.stack : `resnet-webgpu: ${describeFailure(e)}`);
  code = 1;
}
// A model's tuning after a first run compiles pipelines on Dawn's threads, and exiting in the
// middle of that made SwiftShader print garbage (and may crash): dispose drops a tuning that has
// not started and waits for one that has, on success and failure alike.
await Promise.all(loaded.map((model) => model.dispose()));
// Dawn keeps the event loop alive after the work is done: exit once stdout and stderr have drained.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((done) => s.write('', done))));
process.exit(code);
