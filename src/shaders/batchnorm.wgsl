// Per-channel affine y = x * scale[c] + bias[c] over NHWC vec4 activations, with an optional
// residual input and ReLU: BatchNorm(+ReLU) where it cannot fold into a convolution
// (pre-activation blocks), and with scale 1 / bias 0 a plain Add or ReLU.

struct Params { count4: u32, c4: u32, _u0: u32, _u1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> scaleBias: array<vec4f>; // [2][c4]
@group(0) @binding(3) var<storage, read> residual: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4f>;

override RELU: bool = false;
override RESIDUAL: bool = false;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.count4) { return; }
  let c = i % p.c4;
  var v = x[i] * scaleBias[c] + scaleBias[p.c4 + c];
  if (RESIDUAL) { v += residual[i]; }
  if (RELU) { v = max(v, vec4f(0.0)); }
  y[i] = v;
}
