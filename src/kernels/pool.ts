import shader from '../shaders/pool.wgsl?raw';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

export interface PoolAttributes {
  kind: 'max' | 'avg';
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  /** top, left, bottom, right */
  pads: [number, number, number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
}

/** Output size as PyTorch computes it: in ceil mode the last window must start inside the input or left padding. */
export function poolOutputSize(input: number, kernel: number, stride: number, padBefore: number, padAfter: number, ceilMode: boolean): number {
  const span = input + padBefore + padAfter - kernel;
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceilMode && (out - 1) * stride >= input + padBefore) out--;
  return out;
}

export function globalPool(kind: 'max' | 'avg', input: Shape4): PoolAttributes {
  return { kind, kernelH: input.h, kernelW: input.w, strideH: 1, strideW: 1, pads: [0, 0, 0, 0], ceilMode: false, countIncludePad: false };
}

export class PoolProgram implements Program {
  readonly name = 'pool';
  readonly shader = shader;
  readonly constants: Record<string, number>;
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(input: Shape4, attrs: PoolAttributes) {
    const [top, left, bottom, right] = attrs.pads;
    const outH = poolOutputSize(input.h, attrs.kernelH, attrs.strideH, top, bottom, attrs.ceilMode);
    const outW = poolOutputSize(input.w, attrs.kernelW, attrs.strideW, left, right, attrs.ceilMode);
    this.output = { n: input.n, h: outH, w: outW, c: input.c };
    const c4 = roundUp4(input.c) / 4;
    this.constants = { MAX: Number(attrs.kind === 'max') };
    // prettier-ignore
    this.uniforms = packUniforms([
      input.n, input.h, input.w, c4,
      outH, outW, attrs.kernelH, attrs.kernelW,
      attrs.strideH, attrs.strideW, top, left,
      bottom, right, Number(attrs.countIncludePad), 0,
    ]);
    this.workgroups = workgroupsFor(input.n * outH * outW * c4);
    this.flops = input.n * outH * outW * input.c * attrs.kernelH * attrs.kernelW;
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}
