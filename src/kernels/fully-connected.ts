import shader from '../shaders/fully_connected.wgsl?raw';
import type { Gpu } from '../runtime/device';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

/** Invocations per block of 4 outputs (the shader's LANES): a CPU adapter runs each dot product whole, without barriers. */
export const fcLanes = (gpu: Gpu): number => (gpu.adapter.isFallbackAdapter ? 1 : 32);

/** Inputs: x [batch][inFeatures padded to 4], packed weights (packFcWeights), bias [out]. Output f32 [batch][out]. */
export class FullyConnectedProgram implements Program {
  readonly name = 'fully_connected';
  readonly shader = shader;
  readonly constants: Record<string, number>;
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly outputBytes: number;

  constructor(batch: number, inFeatures: number, outFeatures: number, lanes: number) {
    // Whole dot products in workgroups of 16: ResNet's 250 blocks of 1000 outputs make 16 workgroups for a CPU's cores.
    const size = lanes === 1 ? 16 : 256;
    this.constants = { LANES: lanes, SIZE: size };
    const outC4 = roundUp4(outFeatures) / 4;
    this.uniforms = packUniforms([batch, roundUp4(inFeatures) / 4, outFeatures, outC4]);
    // A workgroup per size / lanes blocks of an image, as in the shader.
    this.workgroups = workgroupsFor(batch * Math.ceil(outC4 / (size / lanes)), 1);
    this.flops = 2 * batch * inFeatures * outFeatures;
    this.outputBytes = batch * outFeatures * 4;
  }
}

/** [out][in] weights → [out/4][in/4] blocks of 4 × 4 (column i: input i's weights for 4 outputs), padding zero. */
export function packFcWeights(weight: Float32Array, [outF, inF]: number[]): Float32Array {
  const in4 = roundUp4(inF) / 4;
  const out = new Float32Array((roundUp4(outF) / 4) * in4 * 16);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) out[((o >> 2) * in4 + (i >> 2)) * 16 + (i & 3) * 4 + (o & 3)] = weight[o * inF + i];
  }
  return out;
}
