import { WeightsError } from '../runtime/errors';
import { ARCHITECTURES, blockStride, describeResNet, expansion, expectedTensors, type ResNetConfig } from './resnet';
import type { HostTensor, PreparedWeights, TensorMap } from './tensors';

const BN_EPS = 1e-5; // torchvision's BatchNorm2d default

/**
 * How a file names torchvision's tensors, both ways: `toTorchvision` reads the file's names (undefined:
 * a name with no torchvision counterpart), `toFile` names a torchvision tensor as the file would, for errors.
 */
export interface TorchDialect {
  toTorchvision(name: string): string | undefined;
  toFile(name: string): string;
}

// Hugging Face transformers' ResNetForImageClassification, as (file pattern, torchvision name) pairs.
const stageBlock = String.raw`resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)`;
const HF_RULES: [RegExp, (m: string[]) => string][] = [
  [/^resnet\.embedder\.embedder\.convolution\.weight$/, () => 'conv1.weight'],
  [/^resnet\.embedder\.embedder\.normalization\.(\w+)$/, (m) => `bn1.${m[1]}`],
  [new RegExp(`^${stageBlock}\\.shortcut\\.convolution\\.weight$`), (m) => `layer${+m[1] + 1}.${m[2]}.downsample.0.weight`],
  [new RegExp(`^${stageBlock}\\.shortcut\\.normalization\\.(\\w+)$`), (m) => `layer${+m[1] + 1}.${m[2]}.downsample.1.${m[3]}`],
  [new RegExp(`^${stageBlock}\\.layer\\.(\\d+)\\.convolution\\.weight$`), (m) => `layer${+m[1] + 1}.${m[2]}.conv${+m[3] + 1}.weight`],
  [new RegExp(`^${stageBlock}\\.layer\\.(\\d+)\\.normalization\\.(\\w+)$`), (m) => `layer${+m[1] + 1}.${m[2]}.bn${+m[3] + 1}.${m[4]}`],
  [/^classifier\.1\.(weight|bias)$/, (m) => `fc.${m[1]}`],
];
const TV_TO_HF: [RegExp, (m: string[]) => string][] = [
  [/^conv1\.weight$/, () => 'resnet.embedder.embedder.convolution.weight'],
  [/^bn1\.(\w+)$/, (m) => `resnet.embedder.embedder.normalization.${m[1]}`],
  [/^layer(\d+)\.(\d+)\.downsample\.0\.weight$/, (m) => `resnet.encoder.stages.${+m[1] - 1}.layers.${m[2]}.shortcut.convolution.weight`],
  [/^layer(\d+)\.(\d+)\.downsample\.1\.(\w+)$/, (m) => `resnet.encoder.stages.${+m[1] - 1}.layers.${m[2]}.shortcut.normalization.${m[3]}`],
  [/^layer(\d+)\.(\d+)\.conv(\d)\.weight$/, (m) => `resnet.encoder.stages.${+m[1] - 1}.layers.${m[2]}.layer.${+m[3] - 1}.convolution.weight`],
  [/^layer(\d+)\.(\d+)\.bn(\d)\.(\w+)$/, (m) => `resnet.encoder.stages.${+m[1] - 1}.layers.${m[2]}.layer.${+m[3] - 1}.normalization.${m[4]}`],
  [/^fc\.(weight|bias)$/, (m) => `classifier.1.${m[1]}`],
];
const applyRules = (rules: [RegExp, (m: string[]) => string][], name: string): string | undefined => {
  for (const [pattern, rename] of rules) {
    const m = pattern.exec(name);
    if (m) return rename(m);
  }
  return undefined;
};

/**
 * Recognise how a state_dict names its tensors: torchvision's own names (also timm's), behind
 * DataParallel's `module.` prefix or not, with the CIFAR conventions `linear` for `fc` and
 * `shortcut` for `downsample`; or Hugging Face's ResNetForImageClassification.
 */
export function detectDialect(names: string[]): TorchDialect {
  if (names.some((n) => HF_RULES[0][0].test(n))) {
    return { toTorchvision: (n) => applyRules(HF_RULES, n), toFile: (n) => applyRules(TV_TO_HF, n) ?? n };
  }
  const prefix = names.length > 0 && names.every((n) => n.startsWith('module.')) ? 'module.' : '';
  const has = (n: string): boolean => names.includes(prefix + n);
  const linear = has('linear.weight') && !has('fc.weight');
  const shortcut = names.some((n) => /\.shortcut\.0\.weight$/.test(n));
  const aliases: [string, string][] = [];
  if (linear) aliases.push(['linear.', 'fc.']);
  if (shortcut) aliases.push(['.shortcut.', '.downsample.']);
  return {
    toTorchvision: (n) => (n.startsWith(prefix) ? aliases.reduce((s, [file, tv]) => s.replace(file, tv), n.slice(prefix.length)) : undefined),
    toFile: (n) => prefix + aliases.reduce((s, [file, tv]) => s.replace(tv, file), n),
  };
}

/** The file's tensors under torchvision's names; names without a counterpart keep their own (and will be reported unexpected). */
export function toTorchvisionNames(tensors: TensorMap, dialect: TorchDialect): TensorMap {
  const out: TensorMap = new Map();
  for (const [name, t] of tensors) out.set(dialect.toTorchvision(name) ?? name, t);
  return out;
}

const IDENTITY: TorchDialect = { toTorchvision: (n) => n, toFile: (n) => n };

/**
 * The architecture a torchvision-style ResNet state_dict describes, read from its tensor names
 * and shapes: a conv3 means bottleneck blocks, the block indices give the stage depths, fc gives
 * the class count, a 3×3 `conv1` a CIFAR stem (stride 1, no max pool), and stages that change
 * shape without `downsample` tensors parameter-free option-A shortcuts (every other pixel,
 * channels zero-padded on both sides, as the common CIFAR ResNets do). `arch` overrides the name
 * (and with it the check that depths match).
 */
export function inferResNetConfig(
  tensors: TensorMap,
  file: string,
  overrides: { arch?: string; variant?: ResNetConfig['variant'] } = {},
  dialect: TorchDialect = IDENTITY,
): ResNetConfig {
  const need = (name: string): HostTensor => {
    const t = tensors.get(name);
    if (!t) throw new WeightsError(file, 'missing: this does not look like a torchvision ResNet state_dict', dialect.toFile(name));
    return t;
  };
  const stem = need('conv1.weight');
  const fc = need('fc.weight');
  const layers: number[] = [];
  for (let stage = 1; tensors.has(`layer${stage}.0.conv1.weight`); stage++) {
    let blocks = 0;
    while (tensors.has(`layer${stage}.${blocks}.conv1.weight`)) blocks++;
    layers.push(blocks);
  }
  if (layers.length === 0) throw new WeightsError(file, 'no residual stages found', dialect.toFile('layer1.0.conv1.weight'));
  const block = tensors.has('layer1.0.conv3.weight') ? 'bottleneck' : 'basic';
  const known = Object.entries(ARCHITECTURES).find(([, a]) => a.block === block && a.layers.join() === layers.join())?.[0];
  if (overrides.arch && known !== overrides.arch) {
    throw new WeightsError(file, `--arch ${overrides.arch} expects ${JSON.stringify(ARCHITECTURES[overrides.arch]?.layers)} blocks per stage, the file has ${block} blocks [${layers}]`);
  }
  const depth = 2 + (block === 'basic' ? 2 : 3) * layers.reduce((a, b) => a + b, 0);
  const arch = known ?? (ARCHITECTURES[`resnet${depth}`] ? `resnet${depth}-${block}` : `resnet${depth}`);
  const config: ResNetConfig = {
    arch,
    block,
    layers,
    widths: layers.map((_, s) => need(`layer${s + 1}.0.conv1.weight`).shape[0]),
    stemWidth: stem.shape[0],
    numClasses: fc.shape[0],
    variant: overrides.variant ?? 'v1.5',
    inputChannels: stem.shape[1],
  };
  if (stem.shape[2] === 3) config.stem = { kernel: 3, stride: 1, pad: 1 };
  else if (stem.shape[2] !== 7) throw new WeightsError(file, `a ${stem.shape[2]}×${stem.shape[3]} stem: expected 7×7 (ImageNet) or 3×3 (CIFAR)`, dialect.toFile('conv1.weight'));
  if (![...tensors.keys()].some((n) => n.includes('.downsample.'))) {
    const exp = expansion(block);
    const changes = layers.some((_, s) => blockStride(config, s, 0) !== 1 || (s === 0 ? config.stemWidth : config.widths[s - 1] * exp) !== config.widths[s] * exp);
    if (changes) Object.assign(config, { shortcut: 'subsample', shortcutPadding: 'both' });
  }
  return config;
}

/** torchvision's name for the BatchNorm after a conv: conv1→bn1, layerX.Y.convK→layerX.Y.bnK, downsample.0→downsample.1. */
function torchNames(conv: string): { weight: string; bn: string } {
  if (conv.endsWith('.downsample')) return { weight: `${conv}.0.weight`, bn: `${conv}.1` };
  return { weight: `${conv}.weight`, bn: conv.replace(/conv(\d)$/, 'bn$1') };
}

/**
 * Fold each BatchNorm into its convolution's epilogue (scale = γ/√(var+ε), bias = β − mean·scale)
 * and check every tensor against the architecture: missing, unexpected or misshapen tensors are
 * errors naming the tensor as the file names it.
 */
export function foldTorchvisionResNet(tensors: TensorMap, config: ResNetConfig, file: string, dialect: TorchDialect = IDENTITY): PreparedWeights {
  const ops = describeResNet(config);
  const expected = expectedTensors(ops);
  const used = new Set<string>();
  const take = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new WeightsError(file, `missing (expected shape [${shape}])`, dialect.toFile(name));
    if (t.shape.join() !== shape.join()) throw new WeightsError(file, `expected shape [${shape}] for ${config.arch}, got [${t.shape}]`, dialect.toFile(name));
    used.add(name);
    return t.data;
  };
  const prepared: TensorMap = new Map();
  for (const op of ops) {
    if (op.op === 'conv') {
      const { weight, bn } = torchNames(op.name);
      const c = [op.outChannels];
      prepared.set(`${op.name}.weight`, { shape: expected.get(`${op.name}.weight`)!, data: take(weight, expected.get(`${op.name}.weight`)!) });
      const gamma = take(`${bn}.weight`, c);
      const beta = take(`${bn}.bias`, c);
      const mean = take(`${bn}.running_mean`, c);
      const variance = take(`${bn}.running_var`, c);
      const scale = new Float32Array(op.outChannels);
      const bias = new Float32Array(op.outChannels);
      for (let i = 0; i < op.outChannels; i++) {
        scale[i] = gamma[i] / Math.sqrt(variance[i] + BN_EPS);
        bias[i] = beta[i] - mean[i] * scale[i];
      }
      prepared.set(`${op.name}.scale`, { shape: c, data: scale });
      prepared.set(`${op.name}.bias`, { shape: c, data: bias });
    } else if (op.op === 'linear') {
      for (const suffix of ['weight', 'bias']) {
        const name = `${op.name}.${suffix}`;
        prepared.set(name, { shape: expected.get(name)!, data: take(name, expected.get(name)!) });
      }
    }
  }
  const unexpected = [...tensors.keys()].filter((n) => !used.has(n));
  if (unexpected.length) throw new WeightsError(file, `unexpected tensor for ${config.arch} (${unexpected.length} in all)`, dialect.toFile(unexpected[0]));
  return { config, tensors: prepared, meta: {} };
}

/** A torchvision-style state_dict in any dialect, folded for the engine. */
export function prepareStateDict(tensors: TensorMap, file: string, overrides: { arch?: string; variant?: ResNetConfig['variant'] } = {}): PreparedWeights {
  const dialect = detectDialect([...tensors.keys()]);
  const named = toTorchvisionNames(tensors, dialect);
  return foldTorchvisionResNet(named, inferResNetConfig(named, file, overrides, dialect), file, dialect);
}
