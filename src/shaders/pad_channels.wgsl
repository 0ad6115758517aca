// Parameter-free ("option A") shortcut: subsample by `stride`, then place the input's channels at
// `offset4` (in vec4 units) among zero channels: out[n,oh,ow,c] = in[n,oh*s,ow*s,c-offset] or 0.

struct Params {
  batch: u32, inH: u32, inW: u32, inC4: u32,
  outH: u32, outW: u32, outC4: u32, stride: u32,
  offset4: u32, _u0: u32, _u1: u32, _u2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.batch * p.outH * p.outW * p.outC4) { return; }
  let c = i % p.outC4;
  let ow = (i / p.outC4) % p.outW;
  let oh = (i / (p.outC4 * p.outW)) % p.outH;
  let n = i / (p.outC4 * p.outW * p.outH);
  var v = vec4f(0.0);
  if (c >= p.offset4 && c - p.offset4 < p.inC4) {
    v = x[((n * p.inH + oh * p.stride) * p.inW + ow * p.stride) * p.inC4 + c - p.offset4];
  }
  y[i] = v;
}
