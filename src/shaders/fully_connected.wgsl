// Fully connected layer: y[n][j] = dot(x[n], w[j]) + bias[j], x as [batch][inC4] vec4 (the NHWC
// output of a global pool). Weights in blocks of 4 outputs × 4 inputs, [outC4][inC4] mat4x4f
// (column i: input 4k + i's weights for the block's 4 outputs), so that `block * x` adds to 4
// outputs from one load of each. Output is plain f32 [batch][out].
// A workgroup of SIZE computes SIZE / LANES blocks of one image, LANES invocations splitting each
// block's dot products and adding their parts in workgroup memory. On a GPU LANES = 32. On a CPU
// adapter LANES = 1, no barrier: SwiftShader took 30 ms with 32 (barriers are costly there)
// against 5 ms; blocks of 4 outputs per load of x, not 1, took ResNet-50's from 5.3–7.6 ms to
// 2.3–3.8 ms.

struct Params { batch: u32, inC4: u32, outFeatures: u32, outC4: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<mat4x4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override LANES: u32 = 32u; // invocations per block: 1 or a power of 2 up to SIZE
override SIZE: u32 = 256u; // invocations per workgroup

var<workgroup> partial: array<vec4f, SIZE>;

fn put(n: u32, j: u32, v: f32) {
  if (j < p.outFeatures) { y[n * p.outFeatures + j] = v + bias[j]; }
}

@compute @workgroup_size(SIZE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let blocks = SIZE / LANES;
  let tiles = (p.outC4 + blocks - 1u) / blocks;
  let group = wid.x + wid.y * nwg.x;
  let n = group / tiles;
  if (n >= p.batch) { return; } // whole workgroup: the barrier below stays uniform
  let block = (group % tiles) * blocks + lid / LANES;
  let row = min(block, p.outC4 - 1u) * p.inC4; // past the last: a copy, not stored
  var acc = vec4f(0.0);
  for (var k = lid % LANES; k < p.inC4; k += LANES) {
    acc += w[row + k] * x[n * p.inC4 + k];
  }
  if (LANES > 1u) {
    partial[lid] = acc;
    workgroupBarrier();
  }
  if (lid % LANES == 0u && block < p.outC4) {
    for (var l = 1u; l < LANES; l++) { acc += partial[lid + l]; }
    put(n, 4u * block, acc.x);
    put(n, 4u * block + 1u, acc.y);
    put(n, 4u * block + 2u, acc.z);
    put(n, 4u * block + 3u, acc.w);
  }
}
