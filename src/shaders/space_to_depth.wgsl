// A stride-2 stem convolution's input, rearranged so that the convolution becomes stride 1 with a
// ⌈K/2⌉×⌈K/2⌉ kernel over 4× the channels (see ../kernels/space-to-depth.ts):
// y[n, i, j, (2·bh + bw)·C + c] = x[n, 2i + bh − pad, 2j + bw − pad, c], zero outside the image.
// The zero padding is written here, so the convolution that follows needs none.

struct Params {
  batch: u32, inH: u32, inW: u32, inC: u32,
  outH: u32, outW: u32, outC4: u32, pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// The input's scalars, NHWC with channels padded to 4 (one vec4 per pixel: inC ≤ 4).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.batch * p.outH * p.outW * p.outC4) { return; }
  let q4 = i % p.outC4;
  let ow = (i / p.outC4) % p.outW;
  let oh = (i / (p.outC4 * p.outW)) % p.outH;
  let n = i / (p.outC4 * p.outW * p.outH);
  var v = vec4f(0.0);
  for (var t = 0u; t < 4u; t++) {
    let q = q4 * 4u + t;
    let block = q / p.inC;
    let ih = i32(2u * oh + block / 2u) - i32(p.pad);
    let iw = i32(2u * ow + block % 2u) - i32(p.pad);
    if (block < 4u && ih >= 0 && ih < i32(p.inH) && iw >= 0 && iw < i32(p.inW)) {
      v[t] = x[((n * p.inH + u32(ih)) * p.inW + u32(iw)) * 4u + q % p.inC];
    }
  }
  y[i] = v;
}
