import shader from '../shaders/fully_connected.wgsl?raw';
import type { Gpu } from '../runtime/device';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

/** Invocations per output (the shader's LANES): a CPU adapter runs each dot product whole, without barriers. */
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
    this.constants = { LANES: lanes };
    this.uniforms = packUniforms([batch, roundUp4(inFeatures) / 4, outFeatures]);
    // A workgroup per 256 / lanes outputs of an image, as in the shader.
    this.workgroups = workgroupsFor(batch * Math.ceil(outFeatures / (256 / lanes)), 1);
    this.flops = 2 * batch * inFeatures * outFeatures;
    this.outputBytes = batch * outFeatures * 4;
  }
}

/** [out][in] weights → [out][in padded to 4], padding zero. */
export function packFcWeights(weight: Float32Array, [outF, inF]: number[]): Float32Array {
  const in4 = roundUp4(inF);
  const out = new Float32Array(outF * in4);
  for (let o = 0; o < outF; o++) out.set(weight.subarray(o * inF, (o + 1) * inF), o * in4);
  return out;
}
