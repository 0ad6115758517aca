// The register conv kernel (helpers and bindings: conv2d_common.wgsl). No workgroup memory and no
// barriers: on fallback (CPU) adapters such as SwiftShader every storage load is a per-lane gather
// and barriers are very costly, so the tile is large (loads per multiply-add fall as it grows) and
// the loop body is written out rather than indexed, except for the epilogue: written out for 16
// pixels it tripled SwiftShader's compile time (0.4 s → 1.2 s), looped over an array of the
// accumulators it costs nothing measurable. Where the device has subgroups, conv2d_quad.wgsl and
// conv2d_quad2x2.wgsl do the same with fewer loads (20 vec4 per K step against 32; quad2x2 15 for
// its 14 pixels).

const ROWS = 16u; // output pixels per invocation
const COLS = 4u; // vec4 of output channels per invocation

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let index = gid.x + gid.y * nwg.x * 16u;
  let colBlocks = (p.outC4 + COLS - 1u) / COLS;
  let pixels = p.batch * p.outH * p.outW;
  let m0 = (index / colBlocks) * ROWS;
  if (m0 >= pixels) { return; }
  let co0 = (index % colBlocks) * COLS;
  // Tiles at the edges repeat the last pixel / channel block; storeRow skips them.
  let last = pixels - 1u;
  let o0 = origin(m0);
  let o1 = origin(min(m0 + 1u, last));
  let o2 = origin(min(m0 + 2u, last));
  let o3 = origin(min(m0 + 3u, last));
  let o4 = origin(min(m0 + 4u, last));
  let o5 = origin(min(m0 + 5u, last));
  let o6 = origin(min(m0 + 6u, last));
  let o7 = origin(min(m0 + 7u, last));
  let o8 = origin(min(m0 + 8u, last));
  let o9 = origin(min(m0 + 9u, last));
  let o10 = origin(min(m0 + 10u, last));
  let o11 = origin(min(m0 + 11u, last));
  let o12 = origin(min(m0 + 12u, last));
  let o13 = origin(min(m0 + 13u, last));
  let o14 = origin(min(m0 + 14u, last));
  let o15 = origin(min(m0 + 15u, last));
  let c0 = co0;
  let c1 = min(co0 + 1u, p.outC4 - 1u);
  let c2 = min(co0 + 2u, p.outC4 - 1u);
  let c3 = min(co0 + 3u, p.outC4 - 1u);

  var a0 = mat4x4f(); var a1 = mat4x4f(); var a2 = mat4x4f(); var a3 = mat4x4f();
  var a4 = mat4x4f(); var a5 = mat4x4f(); var a6 = mat4x4f(); var a7 = mat4x4f();
  var a8 = mat4x4f(); var a9 = mat4x4f(); var a10 = mat4x4f(); var a11 = mat4x4f();
  var a12 = mat4x4f(); var a13 = mat4x4f(); var a14 = mat4x4f(); var a15 = mat4x4f();
  for (var kh = 0u; kh < p.kH; kh++) {
    for (var kw = 0u; kw < p.kW; kw++) {
      let t0 = tap(o0, kh, kw); let t1 = tap(o1, kh, kw); let t2 = tap(o2, kh, kw); let t3 = tap(o3, kh, kw);
      let t4 = tap(o4, kh, kw); let t5 = tap(o5, kh, kw); let t6 = tap(o6, kh, kw); let t7 = tap(o7, kh, kw);
      let t8 = tap(o8, kh, kw); let t9 = tap(o9, kh, kw); let t10 = tap(o10, kh, kw); let t11 = tap(o11, kh, kw);
      let t12 = tap(o12, kh, kw); let t13 = tap(o13, kh, kw); let t14 = tap(o14, kh, kw); let t15 = tap(o15, kh, kw);
      var wi = u32(o0.x) * p.imageWeights + (kh * p.kW + kw) * p.tapC4 * p.outC4;
      for (var c4 = 0u; c4 < p.tapC4; c4++) {
        let w0 = w[wi + c0]; let w1 = w[wi + c1]; let w2 = w[wi + c2]; let w3 = w[wi + c3];
        let x0 = x[t0.offset + c4] * t0.mask;
        a0 += mat4x4f(w0 * x0, w1 * x0, w2 * x0, w3 * x0);
        let x1 = x[t1.offset + c4] * t1.mask;
        a1 += mat4x4f(w0 * x1, w1 * x1, w2 * x1, w3 * x1);
        let x2 = x[t2.offset + c4] * t2.mask;
        a2 += mat4x4f(w0 * x2, w1 * x2, w2 * x2, w3 * x2);
        let x3 = x[t3.offset + c4] * t3.mask;
        a3 += mat4x4f(w0 * x3, w1 * x3, w2 * x3, w3 * x3);
        let x4 = x[t4.offset + c4] * t4.mask;
        a4 += mat4x4f(w0 * x4, w1 * x4, w2 * x4, w3 * x4);
        let x5 = x[t5.offset + c4] * t5.mask;
        a5 += mat4x4f(w0 * x5, w1 * x5, w2 * x5, w3 * x5);
        let x6 = x[t6.offset + c4] * t6.mask;
        a6 += mat4x4f(w0 * x6, w1 * x6, w2 * x6, w3 * x6);
        let x7 = x[t7.offset + c4] * t7.mask;
        a7 += mat4x4f(w0 * x7, w1 * x7, w2 * x7, w3 * x7);
        let x8 = x[t8.offset + c4] * t8.mask;
        a8 += mat4x4f(w0 * x8, w1 * x8, w2 * x8, w3 * x8);
        let x9 = x[t9.offset + c4] * t9.mask;
        a9 += mat4x4f(w0 * x9, w1 * x9, w2 * x9, w3 * x9);
        let x10 = x[t10.offset + c4] * t10.mask;
        a10 += mat4x4f(w0 * x10, w1 * x10, w2 * x10, w3 * x10);
        let x11 = x[t11.offset + c4] * t11.mask;
        a11 += mat4x4f(w0 * x11, w1 * x11, w2 * x11, w3 * x11);
        let x12 = x[t12.offset + c4] * t12.mask;
        a12 += mat4x4f(w0 * x12, w1 * x12, w2 * x12, w3 * x12);
        let x13 = x[t13.offset + c4] * t13.mask;
        a13 += mat4x4f(w0 * x13, w1 * x13, w2 * x13, w3 * x13);
        let x14 = x[t14.offset + c4] * t14.mask;
        a14 += mat4x4f(w0 * x14, w1 * x14, w2 * x14, w3 * x14);
        let x15 = x[t15.offset + c4] * t15.mask;
        a15 += mat4x4f(w0 * x15, w1 * x15, w2 * x15, w3 * x15);
        wi += p.outC4;
      }
    }
  }
  storeTile(m0, 0u, co0 + vec4u(0u, 1u, 2u, 3u), array<mat4x4f, ROWS>(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15));
}
