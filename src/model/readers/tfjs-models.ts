import { WeightsError } from '../../runtime/errors';
import { ARCHITECTURES, describeResNet, expectedTensors, type ResNetConfig } from '../resnet';
import type { PreparedWeights, TensorMap } from '../tensors';

/**
 * ResNets that exist as TF.js weights, mapped onto the engine's ResNet definition: face-api's
 * FaceRecognitionNet (dlib's face-recognition ResNet) and Keras's ResNet50/101/152 as
 * tfjs-converter writes them (layers models).
 */

/** TF.js HWIO convolution filters → OIHW. */
function hwioToOihw(data: Float32Array, [kh, kw, inC, outC]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < inC; i++)
        for (let o = 0; o < outC; o++) out[((o * inC + i) * kh + h) * kw + w] = data[((h * kw + w) * inC + i) * outC + o];
  return out;
}

/** [in][out] → [out][in]. */
function transpose2d(data: Float32Array, [rows, cols]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** Takes tensors by name and shape, then reports any the mapping never took. */
class Taker {
  private readonly used = new Set<string>();
  constructor(
    private readonly tensors: TensorMap,
    private readonly file: string,
    private readonly arch: string,
  ) {}

  take(name: string, shape: number[]): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new WeightsError(this.file, `missing (expected shape [${shape}])`, name);
    if (t.shape.join() !== shape.join()) throw new WeightsError(this.file, `expected shape [${shape}] for ${this.arch}, got [${t.shape}]`, name);
    this.used.add(name);
    return t.data;
  }

  checkAllUsed(): void {
    const unexpected = [...this.tensors.keys()].filter((n) => !this.used.has(n));
    if (unexpected.length) throw new WeightsError(this.file, `unexpected tensor for ${this.arch} (${unexpected.length} in all)`, unexpected[0]);
  }
}

/**
 * dlib's face-recognition ResNet as face-api runs it (src/faceRecognitionNet): a 7×7/2 unpadded
 * stem conv and 3×3/2 unpadded max pool, 14 basic blocks in stages of 32, 64, 128 and 256 channels,
 * strided blocks with unpadded 3×3/2 convolutions and 2×2 average-pool + zero-channel shortcuts
 * (the last block strides once more), then the mean over pixels and a 256→128 matrix, no bias.
 * Input: 150×150 RGB in [0, 255] minus the mean colour, divided by 255.
 */
export const FACE_RECOGNITION: ResNetConfig = {
  arch: 'dlib-face-recognition-v1',
  block: 'basic',
  layers: [3, 4, 3, 4],
  widths: [32, 64, 128, 256],
  stemWidth: 32,
  numClasses: 128,
  variant: 'v1.5',
  inputChannels: 3,
  stem: { kernel: 7, stride: 2, pad: 0, pool: { kernel: 3, stride: 2, pad: 0 } },
  shortcut: 'avgpool',
  blockStrides: [
    [1, 1, 1],
    [2, 1, 1, 1],
    [2, 1, 1],
    [2, 1, 1, 2],
  ],
  unpaddedStridedConvs: true,
};

const FACE_MEAN_RGB = [122.782, 117.001, 104.298];

// face-api's names for the blocks, stage by stage.
const FACE_BLOCKS = [
  ['conv32_1', 'conv32_2', 'conv32_3'],
  ['conv64_down', 'conv64_1', 'conv64_2', 'conv64_3'],
  ['conv128_down', 'conv128_1', 'conv128_2'],
  ['conv256_down', 'conv256_1', 'conv256_2', 'conv256_down_out'],
];

export const isFaceRecognitionNet = (tensors: TensorMap): boolean => tensors.has('conv32_down/conv/filters');

/** Each conv's bias and the per-channel scale layer after it fold into scale = s, bias = b·s + β. */
export function prepareFaceRecognitionNet(tensors: TensorMap, file: string): PreparedWeights {
  const config = FACE_RECOGNITION;
  const ops = describeResNet(config);
  const expected = expectedTensors(ops);
  const taker = new Taker(tensors, file, config.arch);
  const prepared: TensorMap = new Map();
  for (const op of ops) {
    if (op.op === 'conv') {
      const block = /^layer(\d)\.(\d+)\.conv(\d)$/.exec(op.name);
      const prefix = block ? `${FACE_BLOCKS[+block[1] - 1][+block[2]]}/conv${block[3]}` : 'conv32_down';
      const hwio = [op.kernel, op.kernel, op.inChannels, op.outChannels];
      const c = [op.outChannels];
      const filters = taker.take(`${prefix}/conv/filters`, hwio);
      const convBias = taker.take(`${prefix}/conv/bias`, c);
      const scale = taker.take(`${prefix}/scale/weights`, c);
      const shift = taker.take(`${prefix}/scale/biases`, c);
      prepared.set(`${op.name}.weight`, { shape: expected.get(`${op.name}.weight`)!, data: hwioToOihw(filters, hwio) });
      prepared.set(`${op.name}.scale`, { shape: c, data: Float32Array.from(scale) });
      prepared.set(`${op.name}.bias`, { shape: c, data: convBias.map((b, i) => b * scale[i] + shift[i]) });
    } else if (op.op === 'linear') {
      const fc = taker.take('fc', [op.inFeatures, op.outFeatures]);
      prepared.set('fc.weight', { shape: [op.outFeatures, op.inFeatures], data: transpose2d(fc, [op.inFeatures, op.outFeatures]) });
      prepared.set('fc.bias', { shape: [op.outFeatures], data: new Float32Array(op.outFeatures) });
    }
  }
  taker.checkAllUsed();
  const mean = FACE_MEAN_RGB.map((m) => m / 255) as [number, number, number];
  return { config, tensors: prepared, meta: { preprocess: { resize: 150, cropH: 150, cropW: 150, mean, std: [1, 1, 1], grayscale: false } } };
}

/** keras.applications.resnet's BatchNormalization epsilon, where the topology does not say. */
const KERAS_EPS = 1.001e-5;

/** BatchNormalization epsilons by layer name, from a Keras model topology (model.json's `modelTopology`). */
function kerasEpsilons(topology: unknown): Map<string, number> {
  type Layer = { class_name?: string; config?: { name?: string; epsilon?: number; layers?: Layer[] } };
  const root = topology as { model_config?: Layer } & Layer;
  const out = new Map<string, number>();
  const visit = (layers: Layer[] | undefined): void => {
    // The topology is only consulted for epsilons: anything but a list of layers holds none.
    for (const l of Array.isArray(layers) ? layers : []) {
      if (typeof l?.config?.name === 'string' && typeof l.config.epsilon === 'number') out.set(l.config.name, l.config.epsilon);
      visit(l?.config?.layers);
    }
  };
  visit((root?.model_config ?? root)?.config?.layers);
  return out;
}

/**
 * Keras's ResNet50/101/152 (keras.applications.resnet, the paper's v1: a bottleneck strides in its
 * first 1×1): `conv1_conv`/`conv1_bn`, then `conv{S}_block{B}_{K}_conv`/`_bn` for stages S = 2…5,
 * K = 0 (projection shortcut, first block only), 1, 2, 3, and the `predictions` Dense layer.
 * Convolutions have biases, folded with the BatchNorm (epsilon from the topology, else Keras's
 * 1.001e-5): scale = γ/√(var+ε), bias = β + (b − mean)·scale. Keras pads the stem and the max pool
 * with explicit ZeroPadding2D layers (3 and 1), which is torchvision's padding (the pool's zeros
 * are below every post-ReLU value, so they never win).
 */
export function prepareKerasResNet(tensors: TensorMap, file: string, topology?: unknown): PreparedWeights {
  const stemName = [...tensors.keys()].find((n) => n.endsWith('conv1_conv/kernel'))!;
  const prefix = stemName.slice(0, -'conv1_conv/kernel'.length);
  const layers: number[] = [];
  for (let stage = 2; tensors.has(`${prefix}conv${stage}_block1_1_conv/kernel`); stage++) {
    let blocks = 0;
    while (tensors.has(`${prefix}conv${stage}_block${blocks + 1}_1_conv/kernel`)) blocks++;
    layers.push(blocks);
  }
  if (!tensors.has(`${prefix}conv2_block1_3_conv/kernel`)) throw new WeightsError(file, 'a Keras ResNet without bottleneck blocks (ResNet50/101/152 have them)', `${prefix}conv2_block1_3_conv/kernel`);
  const predictions = tensors.get(`${prefix}predictions/kernel`);
  if (!predictions) throw new WeightsError(file, 'missing: a Keras ResNet without its classifier (include_top=False) gives no logits', `${prefix}predictions/kernel`);
  const stem = tensors.get(stemName)!;
  const depth = 2 + 3 * layers.reduce((a, b) => a + b, 0);
  const known = Object.entries(ARCHITECTURES).find(([, a]) => a.block === 'bottleneck' && a.layers.join() === layers.join())?.[0];
  const config: ResNetConfig = {
    arch: known ?? `resnet${depth}`,
    block: 'bottleneck',
    layers,
    widths: layers.map((_, s) => tensors.get(`${prefix}conv${s + 2}_block1_1_conv/kernel`)!.shape[3]),
    stemWidth: stem.shape[3],
    numClasses: predictions.shape[1],
    variant: 'v1',
    inputChannels: stem.shape[2],
  };
  const epsilons = kerasEpsilons(topology);
  const ops = describeResNet(config);
  const taker = new Taker(tensors, file, config.arch);
  const prepared: TensorMap = new Map();
  for (const op of ops) {
    if (op.op === 'conv') {
      const m = /^layer(\d)\.(\d+)\.(?:conv(\d)|downsample)$/.exec(op.name);
      const layer = prefix + (m ? `conv${+m[1] + 1}_block${+m[2] + 1}_${m[3] ?? 0}` : 'conv1');
      const hwio = [op.kernel, op.kernel, op.inChannels, op.outChannels];
      const c = [op.outChannels];
      const kernel = taker.take(`${layer}_conv/kernel`, hwio);
      const convBias = taker.take(`${layer}_conv/bias`, c);
      const gamma = taker.take(`${layer}_bn/gamma`, c);
      const beta = taker.take(`${layer}_bn/beta`, c);
      const mean = taker.take(`${layer}_bn/moving_mean`, c);
      const variance = taker.take(`${layer}_bn/moving_variance`, c);
      const eps = epsilons.get(`${layer.slice(prefix.length)}_bn`) ?? KERAS_EPS;
      const scale = gamma.map((g, i) => g / Math.sqrt(variance[i] + eps));
      prepared.set(`${op.name}.weight`, { shape: [op.outChannels, op.inChannels, op.kernel, op.kernel], data: hwioToOihw(kernel, hwio) });
      prepared.set(`${op.name}.scale`, { shape: c, data: scale });
      prepared.set(`${op.name}.bias`, { shape: c, data: beta.map((b, i) => b + (convBias[i] - mean[i]) * scale[i]) });
    } else if (op.op === 'linear') {
      const kernel = taker.take(`${prefix}predictions/kernel`, [op.inFeatures, op.outFeatures]);
      prepared.set('fc.weight', { shape: [op.outFeatures, op.inFeatures], data: transpose2d(kernel, [op.inFeatures, op.outFeatures]) });
      prepared.set('fc.bias', { shape: [op.outFeatures], data: Float32Array.from(taker.take(`${prefix}predictions/bias`, [op.outFeatures])) });
    }
  }
  taker.checkAllUsed();
  return { config, tensors: prepared, meta: {} };
}

/** Map TF.js weights onto a ResNet the engine knows, by their names (`topology`: model.json's modelTopology, when there is one). */
export function prepareTfjsWeights(tensors: TensorMap, file: string, topology?: unknown): PreparedWeights {
  if (isFaceRecognitionNet(tensors)) return prepareFaceRecognitionNet(tensors, file);
  if ([...tensors.keys()].some((n) => n.endsWith('conv1_conv/kernel'))) return prepareKerasResNet(tensors, file, topology);
  const first = tensors.keys().next().value;
  throw new WeightsError(file, "TF.js weights of a model this loader does not map (known: face-api's face-recognition ResNet, Keras's ResNet50/101/152)", first);
}
