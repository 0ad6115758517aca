// Image preprocessing on the GPU: RGBA8 pixels (one u32 each) of any size -> resize so the shorter
// side is `resize` (bilinear, half-pixel centres, no antialias) -> centre crop outH x outW ->
// (v/255 - mean) / std -> one image of the network's NHWC vec4 input (4th channel zero).
// With GRAYSCALE the luma is replicated to the three channels.

struct Params {
  srcW: u32, srcH: u32, outW: u32, outH: u32,
  image: u32, _u0: u32, _u1: u32, _u2: u32,
  scaleX: f32, scaleY: f32, offsetX: f32, offsetY: f32,
  mean: vec4f,
  invStd: vec4f,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;

override GRAYSCALE: bool = false;

fn pixel(x: i32, yy: i32) -> vec4f {
  let cx = u32(clamp(x, 0, i32(p.srcW) - 1));
  let cy = u32(clamp(yy, 0, i32(p.srcH) - 1));
  return unpack4x8unorm(src[cy * p.srcW + cx]);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.outW * p.outH) { return; }
  let ox = i % p.outW;
  let oy = i / p.outW;
  // Output pixel centre -> source coordinates (resize and crop folded into one affine map).
  let sx = (f32(ox) + 0.5 + p.offsetX) * p.scaleX - 0.5;
  let sy = (f32(oy) + 0.5 + p.offsetY) * p.scaleY - 0.5;
  let x0 = i32(floor(sx));
  let y0 = i32(floor(sy));
  let fx = sx - f32(x0);
  let fy = sy - f32(y0);
  let top = mix(pixel(x0, y0), pixel(x0 + 1, y0), fx);
  let bottom = mix(pixel(x0, y0 + 1), pixel(x0 + 1, y0 + 1), fx);
  var rgb = mix(top, bottom, fy);
  if (GRAYSCALE) { rgb = vec4f(vec3f(dot(rgb.rgb, vec3f(0.299, 0.587, 0.114))), 1.0); }
  let v = (rgb - p.mean) * p.invStd;
  y[p.image * p.outW * p.outH + i] = vec4f(v.xyz, 0.0);
}
