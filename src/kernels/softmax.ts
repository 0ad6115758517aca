import shader from '../shaders/softmax.wgsl?raw';
import { packUniforms, workgroupsFor, type Program } from '../runtime/program';

/** Softmax over the last axis of a [rows][cols] f32 matrix. */
export class SoftmaxProgram implements Program {
  readonly name = 'softmax';
  readonly shader = shader;
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly outputBytes: number;

  constructor(rows: number, cols: number) {
    this.uniforms = packUniforms([rows, cols]);
    this.workgroups = workgroupsFor(rows, 1); // a workgroup per row
    this.flops = 4 * rows * cols;
    this.outputBytes = rows * cols * 4;
  }
}
