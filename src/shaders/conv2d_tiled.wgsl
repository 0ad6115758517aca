// 2-D convolution as an implicit GEMM with workgroup-memory tiles: the variant for real GPUs.
// Same GEMM view, bindings and weight layout as conv2d.wgsl (M = output pixels, N = output
// channels, K = kH*kW*inC). A workgroup of 64 invocations computes a tile of 8*ROWS pixels × 64
// output channels; per K step it stages 8*ROWS pixels × 16 input channels of x and the matching
// 16 × 64 weights in workgroup memory (each loaded from storage once per workgroup instead of
// once per invocation), then every invocation multiplies ROWS pixels × 8 output channels out of
// them. rows = 4 halves the tile for the late stages (7×7, 14×14), where 8-row tiles leave most of
// a large GPU idle; it is a uniform, not an override, so both tile sizes share one pipeline (one
// compile, which takes about a second on SwiftShader). Barriers make this variant slow on CPU
// adapters; the autotune decides.

struct Params {
  batch: u32, inH: u32, inW: u32, inC4: u32,
  outH: u32, outW: u32, outC4: u32, kH: u32,
  kW: u32, strideH: u32, strideW: u32, padTop: u32,
  padLeft: u32, dilationH: u32, dilationW: u32, flags: u32, // flags: 1 = ReLU, 2 = add y's residual
  rows: u32, // output pixels per invocation: 8 or 4
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<mat4x4f>;
@group(0) @binding(3) var<storage, read> scaleBias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

const MAX_ROWS = 8u;
const K4 = 4u; // vec4 of input channels per K step
const N4 = 16u; // vec4 of output channels per workgroup

var<workgroup> xs: array<vec4f, 8u * MAX_ROWS * K4>; // [pixel][k]
var<workgroup> ws: array<mat4x4f, K4 * N4>; // [k][n]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tileM = 8u * p.rows;
  let pixels = p.batch * p.outH * p.outW;
  let nTiles = (p.outC4 + N4 - 1u) / N4;
  let group = wid.x + wid.y * nwg.x;
  let m0 = (group / nTiles) * tileM;
  let n0 = (group % nTiles) * N4;
  if (m0 >= pixels) { return; } // whole workgroup: the barriers below stay uniform

  // Staging roles: x by (pixel, run of k), weights by (k, n).
  let loads = tileM * K4 / 64u; // vec4 of x per invocation
  let xPixel = lid * tileM / 64u;
  let xK = (lid % (64u / tileM)) * loads;
  let m = m0 + xPixel;
  let ow = m % p.outW;
  let oh = (m / p.outW) % p.outH;
  let image = i32(m / (p.outW * p.outH));
  let ih0 = i32(oh * p.strideH) - i32(p.padTop);
  let iw0 = i32(ow * p.strideW) - i32(p.padLeft);
  let wK = lid / N4;
  let wN = n0 + lid % N4;

  // Compute roles: ROWS pixels from row ty, 2 vec4 of channels from column tx.
  let tx = lid % 8u;
  let ty = lid / 8u;
  var acc: array<vec4f, 2u * MAX_ROWS>;

  for (var kh = 0u; kh < p.kH; kh++) {
    for (var kw = 0u; kw < p.kW; kw++) {
      let ih = ih0 + i32(kh * p.dilationH);
      let iw = iw0 + i32(kw * p.dilationW);
      let inside = m < pixels && ih >= 0 && ih < i32(p.inH) && iw >= 0 && iw < i32(p.inW);
      let xBase = u32((image * i32(p.inH) + ih) * i32(p.inW) + iw) * p.inC4;
      let wBase = (kh * p.kW + kw) * p.inC4;
      for (var c0 = 0u; c0 < p.inC4; c0 += K4) {
        for (var i = 0u; i < loads; i++) {
          let c = c0 + xK + i;
          var v = vec4f(0.0); // zero padding, and zero past the last input channel
          if (inside && c < p.inC4) { v = x[xBase + c]; }
          xs[xPixel * K4 + xK + i] = v;
        }
        let wc = c0 + wK;
        var wv = mat4x4f();
        if (wc < p.inC4 && wN < p.outC4) { wv = w[(wBase + wc) * p.outC4 + wN]; }
        ws[lid] = wv;
        workgroupBarrier();
        for (var k = 0u; k < K4; k++) {
          let w0 = ws[k * N4 + 2u * tx];
          let w1 = ws[k * N4 + 2u * tx + 1u];
          // A fixed trip count with a uniform test, so GPU compilers unroll it and keep acc in registers.
          for (var r = 0u; r < MAX_ROWS; r++) {
            if (r < p.rows) {
              let xv = xs[(ty * p.rows + r) * K4 + k];
              acc[2u * r] += w0 * xv;
              acc[2u * r + 1u] += w1 * xv;
            }
          }
        }
        workgroupBarrier();
      }
    }
  }

  for (var r = 0u; r < p.rows; r++) {
    let mo = m0 + ty * p.rows + r;
    for (var j = 0u; j < 2u; j++) {
      let co = n0 + 2u * tx + j;
      if (mo < pixels && co < p.outC4) {
        let o = mo * p.outC4 + co;
        var v = acc[2u * r + j] * scaleBias[co] + scaleBias[p.outC4 + co];
        if ((p.flags & 2u) != 0u) { v += y[o]; }
        if ((p.flags & 1u) != 0u) { v = max(v, vec4f(0.0)); }
        y[o] = v;
      }
    }
  }
}
