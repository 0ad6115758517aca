// Winograd F(4×4, 3×3), step 1 of 3 (see ../kernels/winograd.ts): the input transform. For each
// 4×4 output tile and vec4 of channels, the tile's 6×6 input patch d (zero outside the image: the
// convolution's pad of 1) becomes V = Bᵀ d B, 36 values written to the 36 GEMM inputs
// v[ξ][tile][c4], ξ = 6·row + column of V, with
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
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

// Bᵀ times a vector of 6.
fn bt(d0: vec4f, d1: vec4f, d2: vec4f, d3: vec4f, d4: vec4f, d5: vec4f) -> array<vec4f, 6> {
  return array<vec4f, 6>(
    4.0 * d0 - 5.0 * d2 + d4,
    d3 + d4 - 4.0 * (d1 + d2),
    d4 - d3 + 4.0 * (d1 - d2),
    d4 - d2 + 2.0 * (d3 - d1),
    d4 - d2 + 2.0 * (d1 - d3),
    4.0 * d1 - 5.0 * d3 + d5,
  );
}

// One row of Bᵀ d times B: V[row][0..5], at o = the row's first ξ, ξ rows `stride` apart.
fn store(o: u32, stride: u32, r: array<vec4f, 6>) {
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
  let h = i32(th * 4u) - 1;
  let w = i32(tw * 4u) - 1;
  // Loops rather than written out: this shader is small in run time, and written out (36 inlined
  // loads, 6 inlined stores of 6) it took SwiftShader ~0.25 s to compile, ~0.05 s looped.
  var cols: array<array<vec4f, 6>, 6>;
  for (var j = 0; j < 6; j++) {
    cols[j] = bt(pixel(n, h, w + j, c), pixel(n, h + 1, w + j, c), pixel(n, h + 2, w + j, c), pixel(n, h + 3, w + j, c), pixel(n, h + 4, w + j, c), pixel(n, h + 5, w + j, c));
  }
  let stride = p.tilesPad * p.c4;
  let o = t * p.c4 + c;
  for (var i = 0u; i < 6u; i++) {
    store(o + 6u * i * stride, stride, bt(cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i]));
  }
}
