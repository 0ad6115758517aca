// The `resnet-webgpu` command: run a ResNet on an .npy batch, or describe a weights file.
import { Command, InvalidArgumentError, Option } from 'commander';
import { access, constants, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ARCHITECTURES, createNodeGpu, describeAdapter, InputError, readWeightsFile, ResNetModel, ResnetWebGpuError, type PreparedWeights, type WeightOptions } from '../node';
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

const modelOptions = (command: Command): Command =>
  command
    .requiredOption('-m, --model <file>', 'weights: a resnet-webgpu shard index (.json) or a torchvision state_dict (.safetensors)')
    .addOption(new Option('--arch <name>', 'architecture, instead of inferring it from the weights').choices(Object.keys(ARCHITECTURES)))
    .addOption(new Option('--variant <variant>', 'where bottlenecks stride: v1.5 (torchvision, in the 3x3) or v1 (in the first 1x1); torchvision files do not record it, so v1.5 unless given').choices(['v1', 'v1.5']));

async function readWeights(options: ModelOptions): Promise<{ weights: PreparedWeights; readSeconds: string }> {
  const t = performance.now();
  const weights = await readWeightsFile(options.model, { arch: options.arch, variant: options.variant });
  return { weights, readSeconds: seconds(t) };
}

async function loadModel(weights: PreparedWeights, source: string): Promise<{ model: ResNetModel; loadSeconds: string }> {
  const gpu = await createNodeGpu();
  log(`adapter: ${describeAdapter(gpu.adapter)}`);
  const t = performance.now();
  const model = await ResNetModel.load(gpu, weights, source);
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
  const logits = await model.run(input.data, input.shape);
  const runSeconds = seconds(t);
  const [n, , h, w] = input.shape;
  await writeFile(options.output, writeNpy(logits, [n, model.config.numClasses]));
  log(`${model.config.arch} (${model.config.variant}, ${model.config.numClasses} classes): read weights ${readSeconds}, load ${loadSeconds}, inference ${runSeconds} for ${n}x${c}x${h}x${w}`);
  log(`wrote ${options.output} [${n}, ${model.config.numClasses}]`);
  model.dispose();
}

async function info(options: ModelOptions & { batch: number; size: [number, number]; json?: boolean }): Promise<void> {
  const { model } = await loadModel((await readWeights(options)).weights, options.model);
  const [h, w] = options.size;
  await model.scheduleFor({ n: options.batch, h, w, c: model.config.inputChannels });
  const memory = model.memory();
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
    },
    adapter: describeAdapter(model.gpu.adapter),
  };
  model.dispose();
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
      `batch ${options.batch} at ${h}x${w}: activations ${mib(memory.activationBytes)} in ${memory.activationBuffers} buffers (${mib(memory.unplannedActivationBytes)} unplanned)`,
    ],
  ];
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(15)}${v}\n`).join(''));
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

modelOptions(program.command('infer').description('run a batch of images through the model'))
  .requiredOption('-i, --input <file.npy>', 'float32 NCHW batch [N, 3, H, W], already normalised')
  .requiredOption('-o, --output <file.npy>', 'where to write the float32 logits [N, classes]')
  .action(infer);

modelOptions(program.command('info').description('architecture, parameters and memory plan of a weights file'))
  .option('-b, --batch <n>', 'batch size for the memory plan', parsePositive, 1)
  .addOption(new Option('-s, --size <HxW>', 'input size for the memory plan').argParser(parseSize).default([224, 224], '224x224'))
  .option('--json', 'print the report as JSON')
  .action(info);

let code = 0;
try {
  await program.parseAsync();
} catch (e) {
  log(program.opts().debug && e instanceof Error && e.stack ? e.stack : `resnet-webgpu: ${describeFailure(e)}`);
  code = 1;
}
// Dawn keeps the event loop alive after the work is done: exit once stdout and stderr have drained.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((done) => s.write('', done))));
process.exit(code);
