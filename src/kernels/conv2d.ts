import shader from '../shaders/conv2d.wgsl?raw';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

export interface Conv2dAttributes {
  outChannels: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  /** top, left, bottom, right */
  pads: [number, number, number, number];
  dilationH: number;
  dilationW: number;
  relu: boolean;
  residual: boolean;
}

/** Register tile of one invocation: ROWS output pixels × COLS vec4 of output channels (as in the shader). */
export const ROWS = 8;
export const COLS = 4;

export function convOutputSize(input: number, kernel: number, stride: number, padBefore: number, padAfter: number, dilation: number): number {
  return Math.floor((input + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** Inputs: x, packed weights (packConvWeights), packed scale/bias; with `residual`, the output buffer holds the residual on entry (Step.inPlace). */
export class Conv2dProgram implements Program {
  readonly name = 'conv2d';
  readonly shader = shader;
  // ReLU and residual are uniform flags, not override constants: every conv shares one pipeline,
  // which matters where compiling a pipeline takes seconds (SwiftShader).
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(
    readonly input: Shape4,
    readonly attrs: Conv2dAttributes,
  ) {
    const [top, left, bottom, right] = attrs.pads;
    const outH = convOutputSize(input.h, attrs.kernelH, attrs.strideH, top, bottom, attrs.dilationH);
    const outW = convOutputSize(input.w, attrs.kernelW, attrs.strideW, left, right, attrs.dilationW);
    this.output = { n: input.n, h: outH, w: outW, c: attrs.outChannels };
    const outC4 = roundUp4(attrs.outChannels) / 4;
    // prettier-ignore
    this.uniforms = packUniforms([
      input.n, input.h, input.w, roundUp4(input.c) / 4,
      outH, outW, outC4, attrs.kernelH,
      attrs.kernelW, attrs.strideH, attrs.strideW, top,
      left, attrs.dilationH, attrs.dilationW, Number(attrs.relu) | (Number(attrs.residual) << 1),
    ]);
    const pixels = input.n * outH * outW;
    this.workgroups = workgroupsFor(Math.ceil(pixels / ROWS) * Math.ceil(outC4 / COLS));
    this.flops = 2 * pixels * attrs.outChannels * attrs.kernelH * attrs.kernelW * input.c;
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}

/**
 * PyTorch/ONNX OIHW weights → the kernel's [kH][kW][inC/4][outC/4] blocks of mat4x4f, padding
 * zero. Column j of a block holds input channel j's weights for the block's 4 output channels,
 * so the shader's `block * x` is 16 multiply-adds from one load of each operand.
 */
export function packConvWeights(weight: Float32Array, [outC, inC, kH, kW]: number[]): Float32Array {
  const inC4 = roundUp4(inC) / 4;
  const outC4 = roundUp4(outC) / 4;
  const out = new Float32Array(kH * kW * inC4 * outC4 * 16);
  for (let o = 0; o < outC; o++)
    for (let i = 0; i < inC; i++)
      for (let h = 0; h < kH; h++)
        for (let w = 0; w < kW; w++) {
          const block = ((h * kW + w) * inC4 + (i >> 2)) * outC4 + (o >> 2);
          out[block * 16 + (i & 3) * 4 + (o & 3)] = weight[((o * inC + i) * kH + h) * kW + w];
        }
  return out;
}
