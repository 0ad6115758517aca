import shader from '../shaders/fully_connected.wgsl?raw';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

/** Inputs: x [batch][inFeatures padded to 4], packed weights (packFcWeights), bias [out]. Output f32 [batch][out]. */
export class FullyConnectedProgram implements Program {
  readonly name = 'fully_connected';
  readonly shader = shader;
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops: number;
  readonly outputBytes: number;

  constructor(batch: number, inFeatures: number, outFeatures: number) {
    this.uniforms = packUniforms([batch, roundUp4(inFeatures) / 4, outFeatures]);
    this.workgroups = workgroupsFor(batch * outFeatures);
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
