// The model's input, float32 NCHW as uploaded, to the kernels' layout (NHWC, channels padded to 4
// with zeros). Also finds the first value that is not finite (NaN, ±Infinity), which would spread
// through every convolution it touches: the caller then refuses the input instead of returning NaN.

struct Params {
  batch: u32, channels: u32, height: u32, width: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>; // f32 bits: compilers may assume floats are never NaN
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> firstBad: atomic<u32>; // flat NCHW index; starts at 0xffffffff

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let pixel = gid.x + gid.y * nwg.x * 64u; // (n, h, w)
  let plane = p.height * p.width;
  if (pixel >= p.batch * plane) { return; }
  let n = pixel / plane;
  let hw = pixel % plane;
  let c4 = (p.channels + 3u) / 4u;
  for (var b = 0u; b < c4; b++) {
    var v = vec4f(0.0);
    for (var k = 0u; k < 4u; k++) {
      let c = 4u * b + k;
      if (c < p.channels) {
        let at = (n * p.channels + c) * plane + hw;
        let bits = x[at];
        if ((bits & 0x7f800000u) == 0x7f800000u) { atomicMin(&firstBad, at); } // exponent all ones
        v[k] = bitcast<f32>(bits);
      }
    }
    y[pixel * c4 + b] = v;
  }
}
