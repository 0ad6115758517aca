import shader from '../shaders/batchnorm.wgsl?raw';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

/** Inputs: x, packed scale/bias (packScaleBias), residual (or any buffer). Output has x's shape. */
export class BatchNormProgram implements Program {
  readonly name = 'batchnorm';
  readonly shader = shader;
  readonly constants: Record<string, number>;
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly output: Shape4;

  constructor(input: Shape4, opts: { relu: boolean; residual: boolean }) {
    this.output = input;
    const c4 = roundUp4(input.c) / 4;
    const count4 = input.n * input.h * input.w * c4;
    this.constants = { RELU: Number(opts.relu), RESIDUAL: Number(opts.residual) };
    this.uniforms = packUniforms([count4, c4]);
    this.workgroups = workgroupsFor(count4);
    this.flops = 2 * input.n * input.h * input.w * input.c;
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}
