/**
 * The ResNet family as data: a config (block kind, blocks per stage, widths, stride placement,
 * stem, shortcut kind, pre- or post-activation) expands into a flat list of layer ops over named
 * tensors, which ./graph.ts compiles for the GPU.
 */

export type BlockKind = 'basic' | 'bottleneck';

/** The stem: one k×k convolution, then (ImageNet-style) a max pool; CIFAR-style stems have none. */
export interface StemConfig {
  kernel: number;
  stride: number;
  pad: number;
  pool?: { kernel: number; stride: number; pad: number };
}

export const TORCHVISION_STEM: StemConfig = { kernel: 7, stride: 2, pad: 3, pool: { kernel: 3, stride: 2, pad: 1 } };

/**
 * How a block that changes stride or width carries its input to the sum: 'projection' is a 1×1
 * convolution with BatchNorm (torchvision; the paper's option B); the parameter-free option A
 * takes every stride-th pixel ('subsample') or averages stride×stride windows ('avgpool'), then
 * adds zero channels.
 */
export type ShortcutKind = 'projection' | 'subsample' | 'avgpool';

export interface ResNetConfig {
  arch: string;
  block: BlockKind;
  /** Blocks per stage. */
  layers: number[];
  /** Planes per stage (a bottleneck's output is 4× its planes). */
  widths: number[];
  stemWidth: number;
  numClasses: number;
  /** 'v1.5' (torchvision): a bottleneck strides in its 3×3; 'v1' (the original paper): in its first 1×1. */
  variant: 'v1.5' | 'v1';
  inputChannels: number;
  // The fields below are absent for torchvision ResNets; each default is torchvision's.
  /** Default TORCHVISION_STEM. */
  stem?: StemConfig;
  /**
   * Pre-activation ("ResNet v2", He et al. 2016): BatchNorm+ReLU before each convolution instead of
   * after, no ReLU after the sum, and a last BatchNorm+ReLU before the pooling. The stem is a bare
   * convolution.
   */
  preActivation?: boolean;
  /** Default 'projection'. */
  shortcut?: ShortcutKind;
  /** Option A: where the zero channels go: all after the input's (default), or half on each side (the common CIFAR ResNets). */
  shortcutPadding?: 'after' | 'both';
  /** Stride of each block, per stage; default 2 for the first block of every stage but the first. */
  blockStrides?: number[][];
  /**
   * dlib's face-recognition ResNet (as face-api runs it): strided 3×3 convolutions pad nothing, and
   * a block whose sum comes out smaller than its shortcut is zero-padded at the bottom and right.
   */
  unpaddedStridedConvs?: boolean;
}

export const ARCHITECTURES: Record<string, { block: BlockKind; layers: number[] }> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

export function resnetConfig(arch: string, options: Partial<Omit<ResNetConfig, 'arch' | 'block' | 'layers'>> = {}): ResNetConfig {
  const family = ARCHITECTURES[arch];
  if (!family) throw new Error(`unknown architecture "${arch}"; known: ${Object.keys(ARCHITECTURES).join(', ')}`);
  return {
    arch,
    ...family,
    widths: [64, 128, 256, 512],
    stemWidth: 64,
    numClasses: 1000,
    variant: 'v1.5',
    inputChannels: 3,
    ...options,
  };
}

export const expansion = (block: BlockKind): number => (block === 'bottleneck' ? 4 : 1);

export const blockStride = (cfg: ResNetConfig, stage: number, block: number): number => cfg.blockStrides?.[stage]?.[block] ?? (block === 0 && stage > 0 ? 2 : 1);

/** A convolution with its folded BatchNorm: reads `${name}.weight` (OIHW), `${name}.scale`, `${name}.bias`. */
export interface ConvOp {
  op: 'conv';
  name: string;
  input: string;
  output: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
  relu: boolean;
  /** Added before the ReLU. */
  residual?: string;
  /** The output may come out smaller than the residual: zero-pad it bottom/right to match (see unpaddedStridedConvs). */
  padToResidual?: boolean;
}

/** A BatchNorm that cannot fold into a convolution (pre-activation): y = x·scale + bias (+ residual) (then ReLU); reads `${name}.scale`, `${name}.bias`. */
export interface BatchNormOp {
  op: 'batchnorm';
  name: string;
  input: string;
  output: string;
  channels: number;
  relu: boolean;
}

/** Option-A shortcut: every stride-th pixel, its channels placed at `offset` among `outChannels`, the rest zero. */
export interface PadChannelsOp {
  op: 'padchannels';
  name: string;
  input: string;
  output: string;
  outChannels: number;
  stride: number;
  offset: number;
}

export interface PoolOp {
  op: 'maxpool' | 'avgpool';
  name: string;
  input: string;
  output: string;
  kernel: number;
  stride: number;
  pad: number;
}

export interface GlobalPoolOp {
  op: 'globalavgpool';
  name: string;
  input: string;
  output: string;
}

/** Reads `${name}.weight` [out][in] and `${name}.bias`. */
export interface LinearOp {
  op: 'linear';
  name: string;
  input: string;
  output: string;
  inFeatures: number;
  outFeatures: number;
}

export type LayerOp = ConvOp | BatchNormOp | PadChannelsOp | PoolOp | GlobalPoolOp | LinearOp;

export const INPUT = 'input';
export const LOGITS = 'logits';

/**
 * The layer ops of a ResNet, in execution order, named as torchvision names its modules; the
 * other topologies add `layerS.B.bn1` (pre-activation BatchNorm), `layerS.B.shortcut` (option A)
 * and `norm` (the last pre-activation BatchNorm).
 */
export function describeResNet(cfg: ResNetConfig): LayerOp[] {
  const ops: LayerOp[] = [];
  const conv = (name: string, input: string, inChannels: number, outChannels: number, kernel: number, stride: number, relu: boolean, extra: Partial<ConvOp> = {}): string => {
    ops.push({ op: 'conv', name, input, output: name, inChannels, outChannels, kernel, stride, pad: (kernel - 1) >> 1, relu, ...extra });
    return name;
  };
  const batchnorm = (name: string, input: string, channels: number): string => {
    ops.push({ op: 'batchnorm', name, input, output: name, channels, relu: true });
    return name;
  };
  const preact = cfg.preActivation ?? false;
  const shortcut = cfg.shortcut ?? 'projection';
  const stem = cfg.stem ?? TORCHVISION_STEM;

  let x = conv('conv1', INPUT, cfg.inputChannels, cfg.stemWidth, stem.kernel, stem.stride, !preact, { pad: stem.pad });
  if (stem.pool) {
    ops.push({ op: 'maxpool', name: 'maxpool', input: x, output: 'maxpool', ...stem.pool });
    x = 'maxpool';
  }
  let channels = cfg.stemWidth;
  const exp = expansion(cfg.block);
  cfg.layers.forEach((blocks, stage) => {
    const planes = cfg.widths[stage];
    const out = planes * exp;
    for (let b = 0; b < blocks; b++) {
      const p = `layer${stage + 1}.${b}`;
      const stride = blockStride(cfg, stage, b);
      // A projection reads the block's activated input; option A and identity read the input itself.
      const input = preact ? batchnorm(`${p}.bn1`, x, channels) : x;
      let sum = x;
      if (stride !== 1 || channels !== out) {
        if (shortcut === 'projection') sum = conv(`${p}.downsample`, input, channels, out, 1, stride, false);
        else {
          let s = x;
          if (shortcut === 'avgpool' && stride > 1) {
            ops.push({ op: 'avgpool', name: `${p}.shortcut.pool`, input: x, output: `${p}.shortcut.pool`, kernel: stride, stride, pad: 0 });
            s = `${p}.shortcut.pool`;
          }
          const offset = cfg.shortcutPadding === 'both' ? (out - channels) / 2 : 0;
          ops.push({ op: 'padchannels', name: `${p}.shortcut`, input: s, output: `${p}.shortcut`, outChannels: out, stride: shortcut === 'subsample' ? stride : 1, offset });
          sum = `${p}.shortcut`;
        }
      }
      const unpadded = (cfg.unpaddedStridedConvs ?? false) && stride > 1;
      const strided: Partial<ConvOp> = unpadded ? { pad: 0 } : {};
      const last: Partial<ConvOp> = unpadded ? { residual: sum, padToResidual: true } : { residual: sum };
      if (cfg.block === 'basic') {
        const h = conv(`${p}.conv1`, input, channels, planes, 3, stride, true, strided);
        x = conv(`${p}.conv2`, h, planes, planes, 3, 1, !preact, last);
      } else {
        const [s1, s3] = cfg.variant === 'v1' ? [stride, 1] : [1, stride];
        const h1 = conv(`${p}.conv1`, input, channels, planes, 1, s1, true);
        const h2 = conv(`${p}.conv2`, h1, planes, planes, 3, s3, true, s3 > 1 ? strided : {});
        x = conv(`${p}.conv3`, h2, planes, out, 1, 1, !preact, last);
      }
      channels = out;
    }
  });
  if (preact) x = batchnorm('norm', x, channels);
  ops.push({ op: 'globalavgpool', name: 'avgpool', input: x, output: 'avgpool' });
  ops.push({ op: 'linear', name: 'fc', input: 'avgpool', output: LOGITS, inFeatures: channels, outFeatures: cfg.numClasses });
  return ops;
}

/** Every tensor the ops read, with its shape: what a set of prepared weights must hold. */
export function expectedTensors(ops: LayerOp[]): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const op of ops) {
    if (op.op === 'conv') {
      shapes.set(`${op.name}.weight`, [op.outChannels, op.inChannels, op.kernel, op.kernel]);
      shapes.set(`${op.name}.scale`, [op.outChannels]);
      shapes.set(`${op.name}.bias`, [op.outChannels]);
    } else if (op.op === 'batchnorm') {
      shapes.set(`${op.name}.scale`, [op.channels]);
      shapes.set(`${op.name}.bias`, [op.channels]);
    } else if (op.op === 'linear') {
      shapes.set(`${op.name}.weight`, [op.outFeatures, op.inFeatures]);
      shapes.set(`${op.name}.bias`, [op.outFeatures]);
    }
  }
  return shapes;
}
