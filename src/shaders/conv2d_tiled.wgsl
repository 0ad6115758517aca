// 2-D convolution as an implicit GEMM with workgroup-memory tiles, for real GPUs. Same GEMM view,
// bindings and weight layout as conv2d_common.wgsl (M = output pixels, N = output channels,
// K = kH*kW*inC). A workgroup of 256 invocations (16 × 16) computes 16*TM pixels × 128 output
// channels; per K step it stages 16*TM pixels × 16 input channels of x and the matching 16 × 128
// weights in workgroup memory (16 KiB, WebGPU's default limit), each loaded from storage once per
// workgroup, and each invocation multiplies TM pixels × 8 channels out of them: 16 multiply-adds
// per vec4 read from workgroup memory. The next step's loads are issued before this step's
// multiplies, so their latency hides behind them.

struct Params {
  batch: u32, inH: u32, inW: u32, inC4: u32,
  outH: u32, outW: u32, outC4: u32, kH: u32,
  kW: u32, strideH: u32, strideW: u32, padTop: u32,
  padLeft: u32, dilationH: u32, dilationW: u32, flags: u32, // flags: 1 = ReLU, 2 = add y's residual
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
// The packed mat4x4f blocks read as their columns: vec4 4*b + j = input channel j's weights for block b's 4 outputs.
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> scaleBias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

override TM: u32 = 8u; // output pixels per invocation: 8 or 4 (tiles of 128 or 64 pixels)

const MAX_TM = 8u;
const K4 = 4u; // vec4 of input channels per K step
const BN4 = 32u; // vec4 of output channels per tile

var<workgroup> xs: array<vec4f, 16u * MAX_TM * K4>; // [pixel][k4]
var<workgroup> ws: array<vec4f, 4u * K4 * BN4>; // [input channel][n4]

// Input pixel origin of output pixel m: image, top row, left column; w < 0 marks a pixel past the end.
fn origin(m: u32) -> vec3i {
  if (m >= p.batch * p.outH * p.outW) { return vec3i(0, 0, -1 << 30); }
  let ow = m % p.outW;
  let oh = (m / p.outW) % p.outH;
  return vec3i(i32(m / (p.outW * p.outH)), i32(oh * p.strideH) - i32(p.padTop), i32(ow * p.strideW) - i32(p.padLeft));
}

// vec4 `k` of K step `s` of the pixel at `o`; zero in the padding and past the last input channel.
fn loadX(o: vec3i, s: u32, cSteps: u32, k: u32) -> vec4f {
  let tap = s / cSteps;
  let c = (s % cSteps) * K4 + k;
  let ih = o.y + i32((tap / p.kW) * p.dilationH);
  let iw = o.z + i32((tap % p.kW) * p.dilationW);
  if (c >= p.inC4 || ih < 0 || ih >= i32(p.inH) || iw < 0 || iw >= i32(p.inW)) { return vec4f(0.0); }
  return x[u32((o.x * i32(p.inH) + ih) * i32(p.inW) + iw) * p.inC4 + c];
}

// Column j of weight block (input vec4 k of step s, output vec4 n).
fn loadW(s: u32, cSteps: u32, k: u32, n: u32, j: u32) -> vec4f {
  let c = (s % cSteps) * K4 + k;
  if (c >= p.inC4 || n >= p.outC4) { return vec4f(0.0); }
  return w[(((s / cSteps) * p.inC4 + c) * p.outC4 + n) * 4u + j];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tileM = 16u * TM;
  let nTiles = (p.outC4 + BN4 - 1u) / BN4;
  let group = wid.x + wid.y * nwg.x;
  let m0 = (group / nTiles) * tileM;
  let n0 = (group % nTiles) * BN4;
  if (m0 >= p.batch * p.outH * p.outW) { return; } // whole workgroup: the barriers below stay uniform

  // Staging: TM/4 vec4 of x (pixel lid/4 + 64r, vec4 lid%4) and 2 of weights per invocation, each
  // run of consecutive invocations reading consecutive memory.
  let xLoads = TM / 4u;
  let o0 = origin(m0 + lid / 4u);
  let o1 = origin(m0 + lid / 4u + 64u);
  let wK = lid / 128u; // + 2r: the vec4 of input channels
  let wN = (lid % 128u) / 4u;
  let wJ = lid % 4u;
  let cSteps = (p.inC4 + K4 - 1u) / K4;
  let steps = p.kH * p.kW * cSteps;
  var x0 = loadX(o0, 0u, cSteps, lid % 4u);
  var x1 = vec4f(0.0);
  if (xLoads > 1u) { x1 = loadX(o1, 0u, cSteps, lid % 4u); }
  var w0 = loadW(0u, cSteps, wK, n0 + wN, wJ);
  var w1 = loadW(0u, cSteps, wK + 2u, n0 + wN, wJ);

  // Multiplying: pixels ty + 16i, output vec4 tx and tx + 16 of the tile.
  let tx = lid % 16u;
  let ty = lid / 16u;
  var acc: array<vec4f, 2u * MAX_TM>;
  for (var s = 0u; s < steps; s++) {
    workgroupBarrier(); // the last step's multiplies are done with xs and ws
    xs[lid] = x0;
    if (xLoads > 1u) { xs[lid + 256u] = x1; }
    ws[(wK * 4u + wJ) * BN4 + wN] = w0;
    ws[((wK + 2u) * 4u + wJ) * BN4 + wN] = w1;
    workgroupBarrier();
    if (s + 1u < steps) {
      x0 = loadX(o0, s + 1u, cSteps, lid % 4u);
      if (xLoads > 1u) { x1 = loadX(o1, s + 1u, cSteps, lid % 4u); }
      w0 = loadW(s + 1u, cSteps, wK, n0 + wN, wJ);
      w1 = loadW(s + 1u, cSteps, wK + 2u, n0 + wN, wJ);
    }
    for (var k = 0u; k < K4; k++) {
      let a0 = ws[(k * 4u) * BN4 + tx];
      let a1 = ws[(k * 4u + 1u) * BN4 + tx];
      let a2 = ws[(k * 4u + 2u) * BN4 + tx];
      let a3 = ws[(k * 4u + 3u) * BN4 + tx];
      let b0 = ws[(k * 4u) * BN4 + tx + 16u];
      let b1 = ws[(k * 4u + 1u) * BN4 + tx + 16u];
      let b2 = ws[(k * 4u + 2u) * BN4 + tx + 16u];
      let b3 = ws[(k * 4u + 3u) * BN4 + tx + 16u];
      // TM is a constant once the pipeline is made, so compilers unroll this and keep acc in registers.
      for (var i = 0u; i < TM; i++) {
        let v = xs[(ty + 16u * i) * K4 + k];
        acc[2u * i] += a0 * v.x + a1 * v.y + a2 * v.z + a3 * v.w;
        acc[2u * i + 1u] += b0 * v.x + b1 * v.y + b2 * v.z + b3 * v.w;
      }
    }
  }

  let pixels = p.batch * p.outH * p.outW;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty + 16u * i;
    for (var j = 0u; j < 2u; j++) {
      let co = n0 + tx + 16u * j;
      if (m < pixels && co < p.outC4) {
        let o = m * p.outC4 + co;
        var v = acc[2u * i + j] * scaleBias[co] + scaleBias[p.outC4 + co];
        if ((p.flags & 2u) != 0u) { v += y[o]; }
        if ((p.flags & 1u) != 0u) { v = max(v, vec4f(0.0)); }
        y[o] = v;
      }
    }
  }
}
