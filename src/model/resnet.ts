/**
 * The ResNet family as data: a config (block kind, blocks per stage, widths, stride placement)
 * expands into a flat list of layer ops over named tensors, which ./graph.ts compiles for the GPU.
 */

export type BlockKind = 'basic' | 'bottleneck';

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

export type LayerOp = ConvOp | PoolOp | GlobalPoolOp | LinearOp;

export const INPUT = 'input';
export const LOGITS = 'logits';

/** The layer ops of a ResNet, in execution order, named as torchvision names its modules. */
export function describeResNet(cfg: ResNetConfig): LayerOp[] {
  const ops: LayerOp[] = [];
  const conv = (name: string, input: string, inChannels: number, outChannels: number, kernel: number, stride: number, relu: boolean, residual?: string): string => {
    ops.push({ op: 'conv', name, input, output: name, inChannels, outChannels, kernel, stride, pad: (kernel - 1) >> 1, relu, residual });
    return name;
  };

  let x = conv('conv1', INPUT, cfg.inputChannels, cfg.stemWidth, 7, 2, true);
  ops.push({ op: 'maxpool', name: 'maxpool', input: x, output: 'maxpool', kernel: 3, stride: 2, pad: 1 });
  x = 'maxpool';
  let channels = cfg.stemWidth;
  const exp = expansion(cfg.block);
  cfg.layers.forEach((blocks, stage) => {
    const planes = cfg.widths[stage];
    for (let b = 0; b < blocks; b++) {
      const p = `layer${stage + 1}.${b}`;
      const stride = b === 0 && stage > 0 ? 2 : 1;
      const shortcut = stride !== 1 || channels !== planes * exp ? conv(`${p}.downsample`, x, channels, planes * exp, 1, stride, false) : x;
      if (cfg.block === 'basic') {
        const h = conv(`${p}.conv1`, x, channels, planes, 3, stride, true);
        x = conv(`${p}.conv2`, h, planes, planes, 3, 1, true, shortcut);
      } else {
        const [s1, s3] = cfg.variant === 'v1' ? [stride, 1] : [1, stride];
        const h1 = conv(`${p}.conv1`, x, channels, planes, 1, s1, true);
        const h2 = conv(`${p}.conv2`, h1, planes, planes, 3, s3, true);
        x = conv(`${p}.conv3`, h2, planes, planes * exp, 1, 1, true, shortcut);
      }
      channels = planes * exp;
    }
  });
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
    } else if (op.op === 'linear') {
      shapes.set(`${op.name}.weight`, [op.outFeatures, op.inFeatures]);
      shapes.set(`${op.name}.bias`, [op.outFeatures]);
    }
  }
  return shapes;
}
