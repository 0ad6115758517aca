// Softmax over each row of a [rows][cols] f32 matrix, one invocation per row (class counts are
// small); the max is subtracted first so large logits do not overflow.

struct Params { rows: u32, cols: u32, _u0: u32, _u1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * 64u;
  if (row >= p.rows) { return; }
  let base = row * p.cols;
  var m = -3.4e38;
  for (var j = 0u; j < p.cols; j++) { m = max(m, x[base + j]); }
  var sum = 0.0;
  for (var j = 0u; j < p.cols; j++) { sum += exp(x[base + j] - m); }
  for (var j = 0u; j < p.cols; j++) { y[base + j] = exp(x[base + j] - m) / sum; }
}
