// 2-D convolution as an implicit GEMM over NHWC activations (channels padded to vec4).
// GEMM view: M = batch*outH*outW output pixels, N = output channels, K = kH*kW*inC.
// Each invocation owns a ROWS x COLS register tile (ROWS pixels x COLS vec4 of output channels)
// and reads its operands straight from storage: no workgroup memory, no barriers, which is what
// fallback (CPU) adapters run fastest. The epilogue fuses the per-channel scale and bias of a
// folded BatchNorm, an optional residual input and ReLU.

struct Params {
  batch: u32, inH: u32, inW: u32, inC4: u32,
  outH: u32, outW: u32, outC4: u32, kH: u32,
  kW: u32, strideH: u32, strideW: u32, padTop: u32,
  padLeft: u32, dilationH: u32, dilationW: u32, _unused: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
// [kH][kW][inC4*4][outC4]: for one input channel, a row of vec4 over output channels.
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
// [2][outC4]: scale, then bias.
@group(0) @binding(3) var<storage, read> scaleBias: array<vec4f>;
@group(0) @binding(4) var<storage, read> residual: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> y: array<vec4f>;

override RELU: bool = false;
override RESIDUAL: bool = false;
const ROWS = 4u;
const COLS = 2u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let index = gid.x + gid.y * nwg.x * 64u;
  let colBlocks = (p.outC4 + COLS - 1u) / COLS;
  let pixels = p.batch * p.outH * p.outW;
  let rowBlock = index / colBlocks;
  if (rowBlock * ROWS >= pixels) { return; }
  let col0 = (index % colBlocks) * COLS;

  // Where each row's receptive field starts; rows past the end repeat the last pixel.
  var n: array<u32, ROWS>;
  var ih0: array<i32, ROWS>;
  var iw0: array<i32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let m = min(rowBlock * ROWS + r, pixels - 1u);
    let ow = m % p.outW;
    let oh = (m / p.outW) % p.outH;
    n[r] = m / (p.outW * p.outH);
    ih0[r] = i32(oh * p.strideH) - i32(p.padTop);
    iw0[r] = i32(ow * p.strideW) - i32(p.padLeft);
  }
  // Columns past the end read the last column's weights and are not written.
  var wcol: array<u32, COLS>;
  for (var c = 0u; c < COLS; c++) { wcol[c] = min(col0 + c, p.outC4 - 1u); }

  var acc: array<array<vec4f, COLS>, ROWS>;
  let wRow = p.outC4;
  for (var kh = 0u; kh < p.kH; kh++) {
    for (var kw = 0u; kw < p.kW; kw++) {
      var xBase: array<u32, ROWS>;
      var valid: array<bool, ROWS>;
      for (var r = 0u; r < ROWS; r++) {
        let ih = ih0[r] + i32(kh * p.dilationH);
        let iw = iw0[r] + i32(kw * p.dilationW);
        valid[r] = ih >= 0 && ih < i32(p.inH) && iw >= 0 && iw < i32(p.inW);
        xBase[r] = select(0u, ((n[r] * p.inH + u32(ih)) * p.inW + u32(iw)) * p.inC4, valid[r]);
      }
      var wBase = (kh * p.kW + kw) * p.inC4 * 4u * wRow;
      for (var c4 = 0u; c4 < p.inC4; c4++) {
        var xv: array<vec4f, ROWS>;
        for (var r = 0u; r < ROWS; r++) {
          xv[r] = select(vec4f(0.0), x[xBase[r] + c4], valid[r]);
        }
        for (var c = 0u; c < COLS; c++) {
          let wi = wBase + wcol[c];
          let w0 = w[wi];
          let w1 = w[wi + wRow];
          let w2 = w[wi + 2u * wRow];
          let w3 = w[wi + 3u * wRow];
          for (var r = 0u; r < ROWS; r++) {
            acc[r][c] += xv[r].x * w0 + xv[r].y * w1 + xv[r].z * w2 + xv[r].w * w3;
          }
        }
        wBase += 4u * wRow;
      }
    }
  }

  for (var r = 0u; r < ROWS; r++) {
    let m = rowBlock * ROWS + r;
    if (m >= pixels) { break; }
    for (var c = 0u; c < COLS; c++) {
      let co = col0 + c;
      if (co >= p.outC4) { break; }
      let o = m * p.outC4 + co;
      var v = acc[r][c] * scaleBias[co] + scaleBias[p.outC4 + co];
      if (RESIDUAL) { v += residual[o]; }
      if (RELU) { v = max(v, vec4f(0.0)); }
      y[o] = v;
    }
  }
}
