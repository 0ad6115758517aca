enable subgroups;
// The early return below is uniform over each quad (its 4 invocations share one tile), which is all
// the quad swaps need; WGSL's analysis cannot see that.
diagnostic(off, subgroup_uniformity);

// The register conv kernel with each quad's loads shared in pairs (helpers and bindings:
// conv2d_common.wgsl). A quad takes 28 pixels × 8 blocks of 4 output channels; lane (a, b)
// (a = lane & 1, b = lane >> 1) computes pixels 14a ..+13 × blocks 4b ..+3. The two lanes with the
// same pixels each load half of them (rows of parity b) and swap them (quadSwapY); the two with the
// same blocks each load half of those (blocks of parity a) and swap them (quadSwapX): 15 vec4 loads
// per K step for a 14 × 4 tile per invocation, where `quad` does 20 and `register` 32 for 16 × 4.
// Accumulator r holds row m0 + (r ^ b), its column k block co0 + (k ^ a); storeTile puts them back.
// As Winograd's GEMM, each image's rows must be whole 28-pixel tiles (both halves share weights).
// 28 pixels, not 32: ResNet's 112², 56², 28² and 14² maps are whole tiles (7² pads to 56, not 64),
// which took ~7% off layer3's GPU time and ~10% off layer4's on SwiftShader (layer1–2's: ~3%).
// A 16 × 8 tile per invocation ran ~6% faster than 16 × 4 but took 0.78 s to compile, against 0.30 s.

const ROWS = 14u; // output pixels per invocation (a quad: 28)

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) sid: u32) {
  let index = gid.x + gid.y * nwg.x * 16u;
  let quad = index >> 2u; // this invocation's quad (SwiftShader's SIMD lanes are consecutive invocations)
  let colQuads = (p.outC4 + 7u) / 8u;
  let pixels = p.batch * p.outH * p.outW;
  let tile = (quad / colQuads) * 28u;
  if (tile >= pixels) { return; }
  let lane = sid & 3u;
  let a = lane & 1u;
  let b = lane >> 1u;
  let m0 = tile + 14u * a;
  let co0 = (quad % colQuads) * 8u + 4u * b;
  // This lane's loaded rows: m0 + b, + 2, ... + 12 (past the last pixel, the last pixel again).
  let last = pixels - 1u;
  let o0 = origin(min(m0 + b, last));
  let o1 = origin(min(m0 + 2u + b, last));
  let o2 = origin(min(m0 + 4u + b, last));
  let o3 = origin(min(m0 + 6u + b, last));
  let o4 = origin(min(m0 + 8u + b, last));
  let o5 = origin(min(m0 + 10u + b, last));
  let o6 = origin(min(m0 + 12u + b, last));
  let image = tile / (p.outH * p.outW);
  // This lane's loaded blocks (past the last, the last again; storeTile skips them).
  let b0 = min(co0 + a, p.outC4 - 1u);
  let b1 = min(co0 + 2u + a, p.outC4 - 1u);

  var a0 = mat4x4f(); var a1 = mat4x4f(); var a2 = mat4x4f(); var a3 = mat4x4f();
  var a4 = mat4x4f(); var a5 = mat4x4f(); var a6 = mat4x4f(); var a7 = mat4x4f();
  var a8 = mat4x4f(); var a9 = mat4x4f(); var a10 = mat4x4f(); var a11 = mat4x4f();
  var a12 = mat4x4f(); var a13 = mat4x4f();
  for (var kh = 0u; kh < p.kH; kh++) {
    for (var kw = 0u; kw < p.kW; kw++) {
      let t0 = tap(o0, kh, kw); let t1 = tap(o1, kh, kw); let t2 = tap(o2, kh, kw); let t3 = tap(o3, kh, kw);
      let t4 = tap(o4, kh, kw); let t5 = tap(o5, kh, kw); let t6 = tap(o6, kh, kw);
      var wi = image * p.imageWeights + (kh * p.kW + kw) * p.tapC4 * p.outC4;
      for (var c4 = 0u; c4 < p.tapC4; c4++) {
        // q_i: row m0 + 2i + b; its swap s_i: row m0 + 2i + (1 - b). w0, w2: blocks co0 + a, + 2 + a; w1, w3: the others.
        let q0 = x[t0.offset + c4] * t0.mask;
        let q1 = x[t1.offset + c4] * t1.mask;
        let q2 = x[t2.offset + c4] * t2.mask;
        let q3 = x[t3.offset + c4] * t3.mask;
        let q4 = x[t4.offset + c4] * t4.mask;
        let q5 = x[t5.offset + c4] * t5.mask;
        let q6 = x[t6.offset + c4] * t6.mask;
        let v0 = w[wi + b0]; let v1 = w[wi + b1];
        let w0 = v0; let w1 = mat4x4f(quadSwapX(v0[0]), quadSwapX(v0[1]), quadSwapX(v0[2]), quadSwapX(v0[3]));
        let w2 = v1; let w3 = mat4x4f(quadSwapX(v1[0]), quadSwapX(v1[1]), quadSwapX(v1[2]), quadSwapX(v1[3]));
        a0 += mat4x4f(w0 * q0, w1 * q0, w2 * q0, w3 * q0);
        let s0 = quadSwapY(q0);
        a1 += mat4x4f(w0 * s0, w1 * s0, w2 * s0, w3 * s0);
        a2 += mat4x4f(w0 * q1, w1 * q1, w2 * q1, w3 * q1);
        let s1 = quadSwapY(q1);
        a3 += mat4x4f(w0 * s1, w1 * s1, w2 * s1, w3 * s1);
        a4 += mat4x4f(w0 * q2, w1 * q2, w2 * q2, w3 * q2);
        let s2 = quadSwapY(q2);
        a5 += mat4x4f(w0 * s2, w1 * s2, w2 * s2, w3 * s2);
        a6 += mat4x4f(w0 * q3, w1 * q3, w2 * q3, w3 * q3);
        let s3 = quadSwapY(q3);
        a7 += mat4x4f(w0 * s3, w1 * s3, w2 * s3, w3 * s3);
        a8 += mat4x4f(w0 * q4, w1 * q4, w2 * q4, w3 * q4);
        let s4 = quadSwapY(q4);
        a9 += mat4x4f(w0 * s4, w1 * s4, w2 * s4, w3 * s4);
        a10 += mat4x4f(w0 * q5, w1 * q5, w2 * q5, w3 * q5);
        let s5 = quadSwapY(q5);
        a11 += mat4x4f(w0 * s5, w1 * s5, w2 * s5, w3 * s5);
        a12 += mat4x4f(w0 * q6, w1 * q6, w2 * q6, w3 * q6);
        let s6 = quadSwapY(q6);
        a13 += mat4x4f(w0 * s6, w1 * s6, w2 * s6, w3 * s6);
        wi += p.outC4;
      }
    }
  }
  storeTile(m0, b, co0 + (vec4u(0u, 1u, 2u, 3u) ^ vec4u(a)), array<mat4x4f, ROWS>(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13));
}
