import shader from '../shaders/nchw_to_nhwc4.wgsl?raw';
import type { Shape4 } from '../runtime/layout';
import { packUniforms, workgroupsFor, type Program } from '../runtime/program';

/** Inputs: float32 NCHW (as u32 bits). Writes the NHWC vec4 layout and the first non-finite value's index. */
export class NchwToNhwc4Program implements Program {
  readonly name = 'nchw_to_nhwc4';
  readonly shader = shader;
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops = 0;

  constructor(s: Shape4) {
    this.uniforms = packUniforms([s.n, s.c, s.h, s.w]);
    this.workgroups = workgroupsFor(s.n * s.h * s.w);
  }
}
