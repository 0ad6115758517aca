// Fully connected layer: y[n][j] = dot(x[n], w[j]) + bias[j], x as [batch][inC4] vec4 (the
// NHWC output of a global pool), w as [outFeatures][inC4] vec4. Output is plain f32 [batch][out].

struct Params { batch: u32, inC4: u32, outFeatures: u32, _u0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.batch * p.outFeatures) { return; }
  let j = i % p.outFeatures;
  let n = i / p.outFeatures;
  var acc = vec4f(0.0);
  for (var k = 0u; k < p.inC4; k++) {
    acc += x[n * p.inC4 + k] * w[j * p.inC4 + k];
  }
  y[i] = acc.x + acc.y + acc.z + acc.w + bias[j];
}
