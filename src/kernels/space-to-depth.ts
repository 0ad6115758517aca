import shader from '../shaders/space_to_depth.wgsl?raw';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

/**
 * A stride-2 K×K convolution over C channels equals a stride-1 ⌈K/2⌉×⌈K/2⌉ convolution over the
 * input's 2×2 pixel blocks stacked as 4C channels (spaceToDepthWeights rearranges the weights).
 * Worth it for a stem with few channels: the conv kernel's loop over vec4 channel groups has one
 * pass for C ≤ 4, so each of the K² taps pays its addressing for 4 (partly padding) channels;
 * stacked, a quarter of the taps carry 4C channels. Taken only where the multiply-adds do not grow
 * (ResNet's 7×7 stem on RGB: 16 taps × 12 channels against 49 × 4 padded).
 */
export function useSpaceToDepth(kernel: number, stride: number, inChannels: number): boolean {
  const half = Math.ceil(kernel / 2);
  return stride === 2 && kernel > 1 && inChannels <= 4 && half * half * roundUp4(4 * inChannels) <= kernel * kernel * roundUp4(inChannels);
}

/** The stacked input of a stride-2 K×K conv with padding `pad` whose output is `outH`×`outW`: (outH + ⌈K/2⌉ − 1) × (outW + ⌈K/2⌉ − 1) × 4C, padding included. */
export class SpaceToDepthProgram implements Program {
  readonly name = 'space_to_depth';
  readonly shader = shader;
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops = 0;
  readonly output: Shape4;

  constructor(input: Shape4, kernel: number, pad: number, outH: number, outW: number) {
    if (input.c > 4) throw new Error(`space_to_depth: ${input.c} channels; at most 4 are supported`);
    const half = Math.ceil(kernel / 2);
    this.output = { n: input.n, h: outH + half - 1, w: outW + half - 1, c: 4 * input.c };
    const outC4 = roundUp4(this.output.c) / 4;
    this.uniforms = packUniforms([input.n, input.h, input.w, input.c, this.output.h, this.output.w, outC4, pad]);
    this.workgroups = workgroupsFor(input.n * this.output.h * this.output.w * outC4);
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}

/** OIHW weights of the stride-2 K×K conv → those of its stride-1 ⌈K/2⌉×⌈K/2⌉ conv over the stacked channels (zero past K). */
export function spaceToDepthWeights(weight: Float32Array, [outC, inC, kH, kW]: number[]): { data: Float32Array; shape: number[] } {
  const [hH, hW] = [Math.ceil(kH / 2), Math.ceil(kW / 2)];
  const stacked = 4 * inC;
  const data = new Float32Array(outC * stacked * hH * hW);
  for (let o = 0; o < outC; o++)
    for (let c = 0; c < inC; c++)
      for (let h = 0; h < kH; h++)
        for (let w = 0; w < kW; w++) {
          const q = (2 * (h % 2) + (w % 2)) * inC + c;
          data[((o * stacked + q) * hH + (h >> 1)) * hW + (w >> 1)] = weight[((o * inC + c) * kH + h) * kW + w];
        }
  return { data, shape: [outC, stacked, hH, hW] };
}
