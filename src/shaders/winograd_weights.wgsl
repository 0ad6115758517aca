// Winograd F(m×m, 3×3) weight transform (see ../kernels/winograd.ts): U = G g Gᵀ for every input ×
// output channel pair, from a 3×3 conv's packed weights (conv2d.wgsl's [3][3][inC4][outC4] mat4x4f
// blocks) to the GEMM's [n][n][inC4][outC4] blocks, n = m + 2, ξ = n·row + column. The transform is
// linear, so it applies to a block's four vec4 (an input channel's weights for 4 output channels)
// alike: one vec4 per invocation, all n² values of ξ (a mat4x4f per invocation compiled twice as
// slowly on SwiftShader). Run once per conv and form, when a schedule first needs that form.

struct Params {
  vecs: u32, // vec4 per tap: 4 · inC4 · outC4
  n: u32,
  // G's rows (n × 3, in .xyz): the form's constants come from ../kernels/winograd.ts.
  g: array<vec4f, 6>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> u: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = gid.x + gid.y * nwg.x * 64u;
  if (k >= p.vecs) { return; }
  // g[tap row][tap column]
  let g00 = w[k]; let g01 = w[p.vecs + k]; let g02 = w[2u * p.vecs + k];
  let g10 = w[3u * p.vecs + k]; let g11 = w[4u * p.vecs + k]; let g12 = w[5u * p.vecs + k];
  let g20 = w[6u * p.vecs + k]; let g21 = w[7u * p.vecs + k]; let g22 = w[8u * p.vecs + k];
  for (var col = 0u; col < p.n; col++) {
    // Column `col` of g Gᵀ: each row of g times row `col` of G.
    let c = p.g[col];
    let t0 = g00 * c.x + g01 * c.y + g02 * c.z;
    let t1 = g10 * c.x + g11 * c.y + g12 * c.z;
    let t2 = g20 * c.x + g21 * c.y + g22 * c.z;
    for (var row = 0u; row < p.n; row++) {
      let r = p.g[row];
      u[(row * p.n + col) * p.vecs + k] = t0 * r.x + t1 * r.y + t2 * r.z;
    }
  }
}
