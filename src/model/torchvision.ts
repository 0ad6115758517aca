import { WeightsError } from '../runtime/errors';
import { ARCHITECTURES, describeResNet, expectedTensors, resnetConfig, type ResNetConfig } from './resnet';
import type { HostTensor, PreparedWeights, TensorMap } from './tensors';

const BN_EPS = 1e-5; // torchvision's BatchNorm2d default

/**
 * The architecture a torchvision ResNet state_dict describes, read from its tensor names and
 * shapes: a conv3 means bottleneck blocks, the block indices give the stage depths, fc gives the
 * class count. `arch` overrides the name (and with it the check that depths match).
 */
export function inferResNetConfig(tensors: TensorMap, file: string, overrides: { arch?: string; variant?: ResNetConfig['variant'] } = {}): ResNetConfig {
  const need = (name: string): HostTensor => {
    const t = tensors.get(name);
    if (!t) throw new WeightsError(file, 'missing: this does not look like a torchvision ResNet state_dict', name);
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
  if (layers.length === 0) throw new WeightsError(file, 'no residual stages found', 'layer1.0.conv1.weight');
  const block = tensors.has('layer1.0.conv3.weight') ? 'bottleneck' : 'basic';
  const known = Object.entries(ARCHITECTURES).find(([, a]) => a.block === block && a.layers.join() === layers.join())?.[0];
  const arch = overrides.arch ?? known;
  if (!arch) throw new WeightsError(file, `a ${block}-block ResNet with stages [${layers}] is not one of ${Object.keys(ARCHITECTURES).join(', ')}; pass --arch to name it`);
  if (overrides.arch && known !== overrides.arch) {
    throw new WeightsError(file, `--arch ${overrides.arch} expects ${JSON.stringify(ARCHITECTURES[overrides.arch]?.layers)} blocks per stage, the file has ${block} blocks [${layers}]`);
  }
  return resnetConfig(arch, {
    widths: layers.map((_, s) => need(`layer${s + 1}.0.conv1.weight`).shape[0]),
    stemWidth: stem.shape[0],
    inputChannels: stem.shape[1],
    numClasses: fc.shape[0],
    variant: overrides.variant ?? 'v1.5',
  });
}

/** torchvision's name for the BatchNorm after a conv: conv1→bn1, layerX.Y.convK→layerX.Y.bnK, downsample.0→downsample.1. */
function torchNames(conv: string): { weight: string; bn: string } {
  if (conv.endsWith('.downsample')) return { weight: `${conv}.0.weight`, bn: `${conv}.1` };
  return { weight: `${conv}.weight`, bn: conv.replace(/conv(\d)$/, 'bn$1') };
}

/**
 * Fold each BatchNorm into its convolution's epilogue (scale = γ/√(var+ε), bias = β − mean·scale)
 * and check every tensor against the architecture: missing, unexpected or misshapen tensors are
 * errors naming the tensor.
 */
export function foldTorchvisionResNet(tensors: TensorMap, config: ResNetConfig, file: string): PreparedWeights {
  const ops = describeResNet(config);
  const expected = expectedTensors(ops);
  const used = new Set<string>();
  const take = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new WeightsError(file, `missing (expected shape [${shape}])`, name);
    if (t.shape.join() !== shape.join()) throw new WeightsError(file, `expected shape [${shape}] for ${config.arch}, got [${t.shape}]`, name);
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
  if (unexpected.length) throw new WeightsError(file, `unexpected tensor for ${config.arch} (${unexpected.length} in all)`, unexpected[0]);
  return { config, tensors: prepared, meta: {} };
}
