import shader from '../shaders/preprocess.wgsl?raw';
import { packUniforms, workgroupsFor, type Program } from '../runtime/program';

export interface PreprocessConfig {
  /** Shorter side after resizing (torchvision's Resize(int)); the crop is taken from the centre. */
  resize: number;
  cropH: number;
  cropW: number;
  mean: [number, number, number];
  std: [number, number, number];
  grayscale: boolean;
}

const roundHalfEven = (v: number): number => (Number.isInteger(v - 0.5) && Math.floor(v) % 2 === 0 ? Math.floor(v) : Math.round(v));

/** Inputs: the image as RGBA8 (one u32 per pixel). Writes image `index` of an NHWC vec4 batch. */
export class PreprocessProgram implements Program {
  readonly name = 'preprocess';
  readonly shader = shader;
  readonly constants: Record<string, number>;
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  readonly flops = 0;

  constructor(srcW: number, srcH: number, index: number, cfg: PreprocessConfig) {
    // torchvision's Resize(int): the longer side is int(resize * long / short), truncated.
    const longer = Math.floor((cfg.resize * Math.max(srcW, srcH)) / Math.min(srcW, srcH));
    const [resizedW, resizedH] = srcW <= srcH ? [cfg.resize, longer] : [longer, cfg.resize];
    // torchvision's CenterCrop offsets, in resized pixels: Python's round, halves to even.
    const offsetX = roundHalfEven((resizedW - cfg.cropW) / 2);
    const offsetY = roundHalfEven((resizedH - cfg.cropH) / 2);
    this.constants = { GRAYSCALE: Number(cfg.grayscale) };
    this.uniforms = packUniforms(
      [srcW, srcH, cfg.cropW, cfg.cropH, index, 0, 0, 0],
      [srcW / resizedW, srcH / resizedH, offsetX, offsetY, ...cfg.mean, 0, ...cfg.std.map((s) => 1 / s), 0],
    );
    this.workgroups = workgroupsFor(cfg.cropW * cfg.cropH);
  }
}
