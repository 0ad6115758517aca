import shader from '../shaders/pad_channels.wgsl?raw';
import { nhwc4Bytes, type Shape4 } from '../runtime/layout';
import { packUniforms, roundUp4, workgroupsFor, type Program } from '../runtime/program';

/**
 * Option-A shortcut: subsample by `stride` and zero-pad channels to `outChannels`, the input's
 * channels starting at `offset` (a multiple of 4).
 */
export class PadChannelsProgram implements Program {
  readonly name = 'pad_channels';
  readonly shader = shader;
  readonly constants = {};
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops = 0;
  readonly output: Shape4;

  constructor(input: Shape4, outChannels: number, stride: number, offset = 0) {
    if (offset % 4 !== 0) throw new Error(`pad_channels: channel offset ${offset} is not a multiple of 4`);
    const outH = Math.ceil(input.h / stride);
    const outW = Math.ceil(input.w / stride);
    this.output = { n: input.n, h: outH, w: outW, c: outChannels };
    const outC4 = roundUp4(outChannels) / 4;
    // prettier-ignore
    this.uniforms = packUniforms([
      input.n, input.h, input.w, roundUp4(input.c) / 4,
      outH, outW, outC4, stride,
      offset / 4,
    ]);
    this.workgroups = workgroupsFor(input.n * outH * outW * outC4);
  }

  get outputBytes(): number {
    return nhwc4Bytes(this.output);
  }
}
