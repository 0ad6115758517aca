// What the register conv kernels share (conv2d.wgsl, conv2d_quad*.wgsl, with
// conv2d_tile.wgsl's tile epilogue; and conv2d_ksplit.wgsl; ../kernels/conv2d.ts joins each to this
// file): parameters, bindings, the per-pixel helpers and the epilogue.
//
// 2-D convolution as an implicit GEMM over NHWC activations (channels padded to vec4).
// GEMM view: M = batch*outH*outW output pixels, N = output channels, K = kH*kW*inC.
// Each invocation owns a register tile of ROWS output pixels (each kernel's) × 4 vec4 of output
// channels, kept as one mat4x4f accumulator per pixel (each column a vec4 block of output
// channels: storeTile says which). Weights come in mat4x4f blocks of 4 input × 4 output channels,
// so a block times a vec4 of input channels is 16 multiply-adds from two loads.
//
// The epilogue fuses a folded BatchNorm's per-channel scale and bias, a residual and ReLU. The
// residual is added in place: the output buffer holds it on entry (each element is read and then
// written by the same invocation), so a block's sum needs no buffer beside its shortcut's.

struct Params {
  batch: u32, inH: u32, inW: u32, inC4: u32,
  outH: u32, outW: u32, outC4: u32, kH: u32,
  kW: u32, strideH: u32, strideW: u32, padTop: u32,
  padLeft: u32, dilationH: u32, dilationW: u32, flags: u32, // flags: 1 = ReLU, 2 = add y's residual
  // 0 for a convolution. As Winograd's GEMM (../kernels/winograd.ts), weight blocks per image; each
  // image's pixel count is then a multiple of ROWS, so a tile's pixels share one image's weights.
  imageWeights: u32,
  // vec4 of input the K loop reads per kernel tap: inC4, or kW * inC4 where a conv without padding
  // or dilation in W runs as kW = 1 (a row's kW taps are adjacent in memory).
  tapC4: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
// [kH][kW][inC4][outC4] blocks; column j of a block = input channel j's weights for 4 outputs.
@group(0) @binding(2) var<storage, read> w: array<mat4x4f>;
// [2][outC4]: scale, then bias.
@group(0) @binding(3) var<storage, read> scaleBias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

// Image index and the top-left input coordinate of output pixel m's receptive field.
fn origin(m: u32) -> vec3i {
  let ow = m % p.outW;
  let oh = (m / p.outW) % p.outH;
  return vec3i(i32(m / (p.outW * p.outH)), i32(oh * p.strideH) - i32(p.padTop), i32(ow * p.strideW) - i32(p.padLeft));
}

struct Tap { offset: u32, mask: f32 }

// Kernel tap (kh, kw) of a pixel: the offset of the input pixel (clamped into the image) and a
// mask of 0.0 where the tap falls in the zero padding. Arithmetic rather than select():
// SwiftShader's compile time grows steeply with per-row selects (seconds → tens of seconds).
fn tap(o: vec3i, kh: u32, kw: u32) -> Tap {
  let ih = o.y + i32(kh * p.dilationH);
  let iw = o.z + i32(kw * p.dilationW);
  let ch = clamp(ih, 0, i32(p.inH) - 1);
  let cw = clamp(iw, 0, i32(p.inW) - 1);
  let outside = min(abs(ih - ch) + abs(iw - cw), 1);
  return Tap(u32(((o.x * i32(p.inH) + ch) * i32(p.inW) + cw) * i32(p.inC4)), f32(1 - outside));
}

// Epilogue for one pixel and one vec4 of output channels.
fn store(m: u32, co: u32, acc: vec4f, scale: vec4f, bias: vec4f) {
  if (co >= p.outC4) { return; }
  let o = m * p.outC4 + co;
  var v = acc * scale + bias;
  if ((p.flags & 2u) != 0u) { v += y[o]; }
  if ((p.flags & 1u) != 0u) { v = max(v, vec4f(0.0)); }
  y[o] = v;
}
