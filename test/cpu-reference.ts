/**
 * Float64 CPU references for the WGSL kernels, in PyTorch's NCHW conventions and written from
 * PyTorch's definitions rather than from the shaders, so that a shared misreading cannot hide.
 * Plain loops: clarity over speed; the tests keep shapes small.
 */

import type { Conv2dAttributes } from '../src/kernels/conv2d';
import type { PoolAttributes } from '../src/kernels/pool';
import type { PreprocessConfig } from '../src/kernels/preprocess';

// The specs share the kernels' attribute types; the arithmetic below is written independently.
export type ConvSpec = Omit<Conv2dAttributes, 'relu' | 'residual'>;
export type PoolSpec = PoolAttributes;
export type PreprocessSpec = PreprocessConfig;

/** An NCHW tensor, as PyTorch lays it out. */
export interface Nchw {
  n: number;
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

export const nchw = (n: number, c: number, h: number, w: number, data: Float64Array = new Float64Array(n * c * h * w)): Nchw => ({ n, c, h, w, data });

const at = (t: Nchw, n: number, c: number, y: number, x: number): number => t.data[((n * t.c + c) * t.h + y) * t.w + x];

/** `scale[c] * v + bias[c]`, then `+ residual`, then ReLU: the epilogue shared by conv and batchnorm. */
function epilogue(out: Nchw, scale: ArrayLike<number>, bias: ArrayLike<number>, residual: Nchw | undefined, relu: boolean): Nchw {
  const hw = out.h * out.w;
  for (let i = 0; i < out.data.length; i++) {
    const c = Math.floor(i / hw) % out.c;
    let v = out.data[i] * scale[c] + bias[c];
    if (residual) v += residual.data[i];
    out.data[i] = relu ? Math.max(v, 0) : v;
  }
  return out;
}


/** torch.nn.functional.conv2d (weight OIHW, zero padding), then the per-channel affine, residual and ReLU. */
export function conv2d(x: Nchw, weight: ArrayLike<number>, s: ConvSpec, scale: ArrayLike<number>, bias: ArrayLike<number>, residual: Nchw | undefined, relu: boolean): Nchw {
  const [top, left, bottom, right] = s.pads;
  const outH = Math.floor((x.h + top + bottom - s.dilationH * (s.kernelH - 1) - 1) / s.strideH) + 1;
  const outW = Math.floor((x.w + left + right - s.dilationW * (s.kernelW - 1) - 1) / s.strideW) + 1;
  const out = nchw(x.n, s.outChannels, outH, outW);
  let i = 0;
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < s.outChannels; o++)
      for (let oy = 0; oy < outH; oy++)
        for (let ox = 0; ox < outW; ox++) {
          let sum = 0;
          for (let c = 0; c < x.c; c++)
            for (let ky = 0; ky < s.kernelH; ky++) {
              const y = oy * s.strideH - top + ky * s.dilationH;
              if (y < 0 || y >= x.h) continue;
              for (let kx = 0; kx < s.kernelW; kx++) {
                const xx = ox * s.strideW - left + kx * s.dilationW;
                if (xx < 0 || xx >= x.w) continue;
                sum += at(x, n, c, y, xx) * weight[((o * x.c + c) * s.kernelH + ky) * s.kernelW + kx];
              }
            }
          out.data[i++] = sum;
        }
  return epilogue(out, scale, bias, residual, relu);
}

/** Per-channel affine (inference BatchNorm folded to scale/bias), optional residual, optional ReLU. */
export function affine(x: Nchw, scale: ArrayLike<number>, bias: ArrayLike<number>, residual: Nchw | undefined, relu: boolean): Nchw {
  return epilogue(nchw(x.n, x.c, x.h, x.w, x.data.slice()), scale, bias, residual, relu);
}


/** ATen's pooling_output_shape_pad_lr (dilation 1). */
function poolOut(size: number, kernel: number, stride: number, before: number, after: number, ceilMode: boolean): number {
  let out = Math.floor((size + before + after - kernel + (ceilMode ? stride - 1 : 0)) / stride) + 1;
  // In ceil mode the last window must start inside the input or its leading padding.
  if (ceilMode && (out - 1) * stride >= size + before) out--;
  return out;
}

/**
 * max_pool2d / avg_pool2d as ATen's CPU kernels compute them: the max over the window's in-bounds
 * elements; the average divides by the in-bounds count, or with count_include_pad by the window
 * clipped to the padded input (a ceil-mode window hanging past the trailing padding counts less).
 */
export function pool2d(x: Nchw, s: PoolSpec): Nchw {
  const [top, left, bottom, right] = s.pads;
  const outH = poolOut(x.h, s.kernelH, s.strideH, top, bottom, s.ceilMode);
  const outW = poolOut(x.w, s.kernelW, s.strideW, left, right, s.ceilMode);
  const out = nchw(x.n, x.c, outH, outW);
  let i = 0;
  for (let n = 0; n < x.n; n++)
    for (let c = 0; c < x.c; c++)
      for (let oy = 0; oy < outH; oy++)
        for (let ox = 0; ox < outW; ox++) {
          const y0 = oy * s.strideH - top;
          const x0 = ox * s.strideW - left;
          const padded = (Math.min(y0 + s.kernelH, x.h + bottom) - y0) * (Math.min(x0 + s.kernelW, x.w + right) - x0);
          const y1 = Math.min(y0 + s.kernelH, x.h);
          const x1 = Math.min(x0 + s.kernelW, x.w);
          let max = -Infinity;
          let sum = 0;
          let count = 0;
          for (let y = Math.max(y0, 0); y < y1; y++)
            for (let xx = Math.max(x0, 0); xx < x1; xx++) {
              const v = at(x, n, c, y, xx);
              max = Math.max(max, v);
              sum += v;
              count++;
            }
          out.data[i++] = s.kind === 'max' ? max : sum / (s.countIncludePad ? padded : count);
        }
  return out;
}

/** adaptive_{max,avg}_pool2d(x, 1): one value per channel. */
export function globalPool2d(x: Nchw, kind: 'max' | 'avg'): Nchw {
  const out = nchw(x.n, x.c, 1, 1);
  const hw = x.h * x.w;
  for (let nc = 0; nc < x.n * x.c; nc++) {
    const plane = x.data.subarray(nc * hw, (nc + 1) * hw);
    out.data[nc] = kind === 'max' ? plane.reduce((a, b) => Math.max(a, b), -Infinity) : plane.reduce((a, b) => a + b, 0) / hw;
  }
  return out;
}

/** torch.nn.functional.linear: x [batch][in], weight [out][in], bias [out] → [batch][out]. */
export function fullyConnected(x: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, batch: number, inF: number, outF: number): Float64Array {
  const out = new Float64Array(batch * outF);
  for (let b = 0; b < batch; b++)
    for (let o = 0; o < outF; o++) {
      let sum = bias[o];
      for (let k = 0; k < inF; k++) sum += x[b * inF + k] * weight[o * inF + k];
      out[b * outF + o] = sum;
    }
  return out;
}

/** torch.softmax(x, dim=-1) over a [rows][cols] matrix. */
export function softmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, x[r * cols + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += out[r * cols + j] = Math.exp(x[r * cols + j] - max);
    for (let j = 0; j < cols; j++) out[r * cols + j] /= sum;
  }
  return out;
}

/** The option-A shortcut: F.pad(x[:, :, ::stride, ::stride], channels placed at `offset` among `outChannels`). */
export function padChannels(x: Nchw, outChannels: number, stride: number, offset: number): Nchw {
  const out = nchw(x.n, outChannels, Math.ceil(x.h / stride), Math.ceil(x.w / stride));
  for (let n = 0; n < x.n; n++)
    for (let c = 0; c < x.c; c++)
      for (let oy = 0; oy < out.h; oy++)
        for (let ox = 0; ox < out.w; ox++) out.data[((n * outChannels + c + offset) * out.h + oy) * out.w + ox] = at(x, n, c, oy * stride, ox * stride);
  return out;
}


/** Python 3's round(): halves go to the even neighbour. */
const roundHalfEven = (v: number): number => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** ATen's bilinear source index and weight along one axis (align_corners=False, scale = in/out). */
function bilinearTap(dst: number, inSize: number, outSize: number): [number, number, number] {
  const src = Math.max((dst + 0.5) * (inSize / outSize) - 0.5, 0);
  const i0 = Math.floor(src);
  return [i0, Math.min(i0 + 1, inSize - 1), src - i0];
}

/**
 * torchvision on an RGBA8 image as a float tensor: Resize(resize) (shorter side to `resize`, longer
 * side int(resize * long / short), bilinear without antialias), CenterCrop(cropH, cropW) (offsets
 * with Python's round), optional Grayscale (luma 0.299/0.587/0.114 replicated to 3 channels),
 * then Normalize((v/255 − mean) / std). Returns one 3-channel image; the crop must fit.
 */
export function preprocess(rgba: Uint8Array, srcW: number, srcH: number, s: PreprocessSpec): Nchw {
  const short = Math.min(srcW, srcH);
  const long = Math.floor((s.resize * Math.max(srcW, srcH)) / short);
  const [resizedW, resizedH] = srcW <= srcH ? [s.resize, long] : [long, s.resize];
  if (s.cropW > resizedW || s.cropH > resizedH) throw new Error('preprocess reference: crop larger than the resized image');
  const top = roundHalfEven((resizedH - s.cropH) / 2);
  const left = roundHalfEven((resizedW - s.cropW) / 2);
  const out = nchw(1, 3, s.cropH, s.cropW);
  const plane = s.cropH * s.cropW;
  for (let oy = 0; oy < s.cropH; oy++) {
    const [y0, y1, fy] = bilinearTap(oy + top, srcH, resizedH);
    for (let ox = 0; ox < s.cropW; ox++) {
      const [x0, x1, fx] = bilinearTap(ox + left, srcW, resizedW);
      const texel = (x: number, y: number, c: number): number => rgba[(y * srcW + x) * 4 + c] / 255;
      const rgb = [0, 1, 2].map(
        (c) => (1 - fy) * ((1 - fx) * texel(x0, y0, c) + fx * texel(x1, y0, c)) + fy * ((1 - fx) * texel(x0, y1, c) + fx * texel(x1, y1, c)),
      );
      const luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
      for (let c = 0; c < 3; c++) out.data[c * plane + oy * s.cropW + ox] = ((s.grayscale ? luma : rgb[c]) - s.mean[c]) / s.std[c];
    }
  }
  return out;
}
