// Winograd F(2×2, 3×3), step 1 of 3 (see ../kernels/winograd.ts): the input transform. For each
// 2×2 output tile and vec4 of channels, the tile's 4×4 input patch d (zero outside the image: the
// convolution's pad of 1) becomes V = Bᵀ d B, 16 values written to the 16 GEMM inputs
// v[ξ][tile][c4], ξ = 4·row + column of V. Bᵀ only adds and subtracts:
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
// Loops over small arrays (SwiftShader keeps them in memory): little run time, and far less code to compile.

struct Params {
  batch: u32, inH: u32, inW: u32, c4: u32,
  tilesH: u32, tilesW: u32, tilesPad: u32, // tiles per image in each direction; rows per ξ (a multiple of 16)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> v: array<vec4f>;

fn pixel(n: u32, h: i32, w: i32, c: u32) -> vec4f {
  let ch = clamp(h, 0, i32(p.inH) - 1);
  let cw = clamp(w, 0, i32(p.inW) - 1);
  let inside = f32(1 - min(abs(h - ch) + abs(w - cw), 1));
  return x[((n * p.inH + u32(ch)) * p.inW + u32(cw)) * p.c4 + c] * inside;
}

// Bᵀ applied to one column of the patch: its 4 rows of Bᵀ d.
fn column(n: u32, h: i32, w: i32, c: u32) -> mat4x4f {
  let d0 = pixel(n, h, w, c);
  let d1 = pixel(n, h + 1, w, c);
  let d2 = pixel(n, h + 2, w, c);
  let d3 = pixel(n, h + 3, w, c);
  return mat4x4f(d0 - d2, d1 + d2, d2 - d1, d1 - d3);
}

// One row of Bᵀ d times B: V[row][0..3], ξ = 4·row + column, rows of `stride` apart.
fn store(o: u32, stride: u32, a: vec4f, b: vec4f, c: vec4f, d: vec4f) {
  v[o] = a - c;
  v[o + stride] = b + c;
  v[o + 2u * stride] = c - b;
  v[o + 3u * stride] = b - d;
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
  let h = i32(th * 2u) - 1;
  let w = i32(tw * 2u) - 1;
  // Loops rather than written out: a quarter of the code for SwiftShader to compile (~0.02 s less).
  var cols: array<mat4x4f, 4>;
  for (var j = 0; j < 4; j++) { cols[j] = column(n, h, w + j, c); }
  let stride = p.tilesPad * p.c4;
  let o = t * p.c4 + c;
  for (var i = 0u; i < 4u; i++) { store(o + 4u * i * stride, stride, cols[0][i], cols[1][i], cols[2][i], cols[3][i]); }
}
