// Small seeded ResNets for the reliability, soak and fuzz tests: every tensor their architecture
// reads, filled deterministically, so no fixture has to be generated or fetched.
import { describeResNet, resnetConfig, type PreparedWeights, type ResNetConfig } from '../src/index';
import { expectedTensors } from '../src/model/resnet';

/** A narrow ResNet-18 (one block per stage) unless `config` says otherwise. */
export function smallConfig(config: Partial<ResNetConfig> = {}): ResNetConfig {
  return { ...resnetConfig('resnet18', { widths: [8, 8, 16, 16], stemWidth: 8, numClasses: 10 }), layers: [1, 1, 1, 1], ...config };
}

/** Uniform values in [-1, 1) from a 32-bit seed (mulberry32). */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 31) - 1;
  };
}

/** Weights scaled by fan-in (so activations stay near 1 through the network), scales near 1. */
export function smallModel(config: Partial<ResNetConfig> = {}, seed = 1): PreparedWeights {
  const cfg = smallConfig(config);
  const next = random(seed);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of expectedTensors(describeResNet(cfg))) {
    const count = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? count / shape[0] : 1;
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = name.endsWith('.scale') ? 1 + 0.1 * next() : name.endsWith('.bias') ? 0.1 * next() : next() * Math.sqrt(3 / fanIn);
    tensors.set(name, { shape, data });
  }
  return { config: cfg, tensors, meta: {} };
}

/** A seeded NCHW batch. */
export function randomInput(shape: number[], seed: number): Float32Array {
  const next = random(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next);
}
