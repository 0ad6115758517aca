// Winograd F(m×m, 3×3), step 3 of 3 (see ../kernels/winograd.ts): the output transform, m = M. For
// each m×m output tile and vec4 of channels, the (m+2)² GEMM outputs M (m[ξ][tile][c4],
// ξ = (m+2)·row + column) become the tile's outputs Aᵀ M A, with
//   F(2×2): Aᵀ = [1 1 1 0; 0 1 -1 -1],
//   F(4×4): Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1],
// followed by the convolution's epilogue: a folded BatchNorm's scale and bias, a residual, ReLU
// (as in conv2d.wgsl, the residual is in y on entry). Tiles past the image's edge drop what lies
// outside. Loops rather than written out: F(4×4)'s 6 inlined columns and 16 epilogues took
// SwiftShader ~0.35 s to compile, ~0.05 s looped.

override M: u32; // output tile size: 2 or 4

struct Params {
  batch: u32, outH: u32, outW: u32, c4: u32,
  tilesH: u32, tilesW: u32, tilesPad: u32, flags: u32, // flags: 1 = ReLU, 2 = add y's residual
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> m: array<vec4f>;
// [2][c4]: scale, then bias.
@group(0) @binding(2) var<storage, read> scaleBias: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

fn put(n: u32, h: u32, w: u32, c: u32, acc: vec4f) {
  if (h >= p.outH || w >= p.outW) { return; }
  let o = ((n * p.outH + h) * p.outW + w) * p.c4 + c;
  var v = acc * scaleBias[c] + scaleBias[p.c4 + c];
  if ((p.flags & 2u) != 0u) { v += y[o]; }
  if ((p.flags & 1u) != 0u) { v = max(v, vec4f(0.0)); }
  y[o] = v;
}

// F(2×2): Aᵀ applied to column j of M (its rows ξ = j, 4 + j, 8 + j, 12 + j): the 2 rows of Aᵀ M.
fn column2(o: u32, stride: u32) -> mat2x4f {
  let m0 = m[o];
  let m1 = m[o + 4u * stride];
  let m2 = m[o + 8u * stride];
  let m3 = m[o + 12u * stride];
  return mat2x4f(m0 + m1 + m2, m1 - m2 - m3);
}

// F(4×4): Aᵀ times a vector of 6, as the columns of a matrix.
fn at4(m0: vec4f, m1: vec4f, m2: vec4f, m3: vec4f, m4: vec4f, m5: vec4f) -> mat4x4f {
  let s = m1 + m2;
  let d = m1 - m2;
  let s2 = m3 + m4;
  let d2 = m3 - m4;
  return mat4x4f(m0 + s + s2, d + 2.0 * d2, s + 4.0 * s2, d + 8.0 * d2 + m5);
}

// F(4×4): Aᵀ applied to column j of M (its rows ξ = j, 6 + j, …, 30 + j): the 4 rows of Aᵀ M.
fn column4(o: u32, stride: u32) -> mat4x4f {
  return at4(m[o], m[o + 6u * stride], m[o + 12u * stride], m[o + 18u * stride], m[o + 24u * stride], m[o + 30u * stride]);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let index = gid.x + gid.y * nwg.x * 64u;
  let c = index % p.c4;
  let t = index / p.c4;
  if (t >= p.batch * p.tilesH * p.tilesW) { return; }
  let tw = t % p.tilesW;
  let th = (t / p.tilesW) % p.tilesH;
  let n = t / (p.tilesW * p.tilesH);
  let stride = p.tilesPad * p.c4;
  let o = t * p.c4 + c;
  if (M == 2u) {
    var k: array<mat2x4f, 4>;
    for (var j = 0u; j < 4u; j++) { k[j] = column2(o + j * stride, stride); }
    for (var r = 0u; r < 2u; r++) {
      put(n, 2u * th + r, 2u * tw, c, k[0][r] + k[1][r] + k[2][r]);
      put(n, 2u * th + r, 2u * tw + 1u, c, k[1][r] - k[2][r] - k[3][r]);
    }
  } else {
    var k: array<mat4x4f, 6>;
    for (var j = 0u; j < 6u; j++) { k[j] = column4(o + j * stride, stride); }
    for (var r = 0u; r < 4u; r++) {
      let row = at4(k[0][r], k[1][r], k[2][r], k[3][r], k[4][r], k[5][r]);
      for (var q = 0u; q < 4u; q++) { put(n, 4u * th + r, 4u * tw + q, c, row[q]); }
    }
  }
}
