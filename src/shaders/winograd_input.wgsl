// Winograd F(m×m, 3×3), step 1 of 3 (see ../kernels/winograd.ts): the input transform, m = M. For
// each m×m output tile and vec4 of channels, the tile's (m+2)×(m+2) input patch d (zero outside
// the image: the convolution's pad of 1) becomes V = Bᵀ d B, (m+2)² values written to the GEMM
// inputs v[ξ][tile][c4], ξ = (m+2)·row + column of V, with
//   F(2×2): Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] (only adds and subtracts),
//   F(4×4): Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
// Loops over small arrays (SwiftShader keeps them in memory): little run time, and far less code
// to compile (F(4×4) written out, with 36 inlined loads and 6 inlined stores of 6: ~0.25 s
// against ~0.05 s).

override M: u32; // output tile size: 2 or 4

struct Params {
  batch: u32, inH: u32, inW: u32, c4: u32,
  tilesH: u32, tilesW: u32, tilesPad: u32, // tiles per image in each direction; rows per ξ
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

// F(2×2): Bᵀ applied to one column of the patch: its 4 rows of Bᵀ d.
fn column2(n: u32, h: i32, w: i32, c: u32) -> mat4x4f {
  let d0 = pixel(n, h, w, c);
  let d1 = pixel(n, h + 1, w, c);
  let d2 = pixel(n, h + 2, w, c);
  let d3 = pixel(n, h + 3, w, c);
  return mat4x4f(d0 - d2, d1 + d2, d2 - d1, d1 - d3);
}

// F(2×2): one row of Bᵀ d times B: V[row][0..3], at o = the row's first ξ, ξ rows `stride` apart.
fn store2(o: u32, stride: u32, a: vec4f, b: vec4f, c: vec4f, d: vec4f) {
  v[o] = a - c;
  v[o + stride] = b + c;
  v[o + 2u * stride] = c - b;
  v[o + 3u * stride] = b - d;
}

// F(4×4): Bᵀ times a vector of 6.
fn bt4(d0: vec4f, d1: vec4f, d2: vec4f, d3: vec4f, d4: vec4f, d5: vec4f) -> array<vec4f, 6> {
  return array<vec4f, 6>(
    4.0 * d0 - 5.0 * d2 + d4,
    d3 + d4 - 4.0 * (d1 + d2),
    d4 - d3 + 4.0 * (d1 - d2),
    d4 - d2 + 2.0 * (d3 - d1),
    d4 - d2 + 2.0 * (d1 - d3),
    4.0 * d1 - 5.0 * d3 + d5,
  );
}

// F(4×4): one row of Bᵀ d times B: V[row][0..5], at o = the row's first ξ, ξ rows `stride` apart.
fn store4(o: u32, stride: u32, r: array<vec4f, 6>) {
  v[o] = r[0];
  v[o + stride] = r[1];
  v[o + 2u * stride] = r[2];
  v[o + 3u * stride] = r[3];
  v[o + 4u * stride] = r[4];
  v[o + 5u * stride] = r[5];
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
  let h = i32(th * M) - 1;
  let w = i32(tw * M) - 1;
  let stride = p.tilesPad * p.c4;
  let o = t * p.c4 + c;
  if (M == 2u) {
    var cols: array<mat4x4f, 4>;
    for (var j = 0; j < 4; j++) { cols[j] = column2(n, h, w + j, c); }
    for (var i = 0u; i < 4u; i++) { store2(o + 4u * i * stride, stride, cols[0][i], cols[1][i], cols[2][i], cols[3][i]); }
  } else {
    var cols: array<array<vec4f, 6>, 6>;
    for (var j = 0; j < 6; j++) {
      cols[j] = bt4(pixel(n, h, w + j, c), pixel(n, h + 1, w + j, c), pixel(n, h + 2, w + j, c), pixel(n, h + 3, w + j, c), pixel(n, h + 4, w + j, c), pixel(n, h + 5, w + j, c));
    }
    for (var i = 0u; i < 6u; i++) { store4(o + 6u * i * stride, stride, bt4(cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i])); }
  }
}
