// Winograd F(4×4, 3×3), step 3 of 3 (see ../kernels/winograd.ts): the output transform. For each
// 4×4 output tile and vec4 of channels, the 36 GEMM outputs M (m[ξ][tile][c4], ξ = 6·row + column)
// become the tile's outputs Aᵀ M A, with
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
// followed by the convolution's epilogue: a folded BatchNorm's scale and bias, a residual, ReLU
// (as in conv2d.wgsl, the residual is in y on entry). Tiles past the image's edge drop what lies outside.

struct Params {
  batch: u32, outH: u32, outW: u32, c4: u32,
  tilesH: u32, tilesW: u32, tilesPad: u32, flags: u32, // flags: 1 = ReLU, 2 = add y's residual
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> m: array<vec4f>;
// [2][c4]: scale, then bias.
@group(0) @binding(2) var<storage, read> scaleBias: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

// Aᵀ times a vector of 6, as the columns of a matrix.
fn at(m0: vec4f, m1: vec4f, m2: vec4f, m3: vec4f, m4: vec4f, m5: vec4f) -> mat4x4f {
  let s = m1 + m2;
  let d = m1 - m2;
  let s2 = m3 + m4;
  let d2 = m3 - m4;
  return mat4x4f(m0 + s + s2, d + 2.0 * d2, s + 4.0 * s2, d + 8.0 * d2 + m5);
}

// Aᵀ applied to column j of M (its rows ξ = j, 6 + j, …, 30 + j): the 4 rows of Aᵀ M.
fn column(o: u32, stride: u32) -> mat4x4f {
  return at(m[o], m[o + 6u * stride], m[o + 12u * stride], m[o + 18u * stride], m[o + 24u * stride], m[o + 30u * stride]);
}

fn put(n: u32, h: u32, w: u32, c: u32, acc: vec4f) {
  if (h >= p.outH || w >= p.outW) { return; }
  let o = ((n * p.outH + h) * p.outW + w) * p.c4 + c;
  var v = acc * scaleBias[c] + scaleBias[p.c4 + c];
  if ((p.flags & 2u) != 0u) { v += y[o]; }
  if ((p.flags & 1u) != 0u) { v = max(v, vec4f(0.0)); }
  y[o] = v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let index = gid.x + gid.y * nwg.x * 64u;
  let c = index % p.c4;
  let t = index / p.c4;
  if (t >= p.batch * p.tilesH * p.tilesW) { return; }
  let stride = p.tilesPad * p.c4;
  let o = t * p.c4 + c;
  var k: array<mat4x4f, 6>;
  for (var j = 0u; j < 6u; j++) { k[j] = column(o + j * stride, stride); }
  let tw = t % p.tilesW;
  let th = (t / p.tilesW) % p.tilesH;
  let n = t / (p.tilesW * p.tilesH);
  // Loops rather than written out: with 6 inlined columns and 16 epilogues SwiftShader took
  // ~0.35 s to compile this, ~0.05 s looped.
  for (var r = 0u; r < 4u; r++) {
    let row = at(k[0][r], k[1][r], k[2][r], k[3][r], k[4][r], k[5][r]);
    for (var q = 0u; q < 4u; q++) { put(n, 4u * th + r, 4u * tw + q, c, row[q]); }
  }
}
