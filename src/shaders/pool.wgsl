// Max or average pooling, kH x kW with stride and padding, over NHWC vec4 activations; global
// pooling is the window covering the whole input. One invocation per output vec4.

struct Params {
  batch: u32, inH: u32, inW: u32, c4: u32,
  outH: u32, outW: u32, kH: u32, kW: u32,
  strideH: u32, strideW: u32, padTop: u32, padLeft: u32,
  padBottom: u32, padRight: u32, countIncludePad: u32, _u0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;

override MAX: bool = true;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.batch * p.outH * p.outW * p.c4) { return; }
  let c = i % p.c4;
  let ow = (i / p.c4) % p.outW;
  let oh = (i / (p.c4 * p.outW)) % p.outH;
  let n = i / (p.c4 * p.outW * p.outH);
  let h0 = i32(oh * p.strideH) - i32(p.padTop);
  let w0 = i32(ow * p.strideW) - i32(p.padLeft);
  var acc = select(vec4f(0.0), vec4f(-3.4e38), MAX);
  var count = 0u;
  for (var kh = 0u; kh < p.kH; kh++) {
    let ih = h0 + i32(kh);
    if (ih < 0 || ih >= i32(p.inH)) { continue; }
    for (var kw = 0u; kw < p.kW; kw++) {
      let iw = w0 + i32(kw);
      if (iw < 0 || iw >= i32(p.inW)) { continue; }
      let v = x[((n * p.inH + u32(ih)) * p.inW + u32(iw)) * p.c4 + c];
      if (MAX) { acc = max(acc, v); } else { acc += v; }
      count++;
    }
  }
  if (!MAX) {
    if (p.countIncludePad != 0u) {
      // The window clipped to the padded input, as PyTorch and ONNX count it.
      let hEnd = min(h0 + i32(p.kH), i32(p.inH + p.padBottom));
      let wEnd = min(w0 + i32(p.kW), i32(p.inW + p.padRight));
      count = u32((hEnd - h0) * (wEnd - w0));
    }
    acc /= f32(max(count, 1u));
  }
  y[i] = acc;
}
