enable subgroups;
// The early return below is uniform over each quad (its 4 invocations share one pixel tile), which
// is all quadBroadcast needs; WGSL's analysis cannot see that.
diagnostic(off, subgroup_uniformity);

// The register conv kernel for maps smaller than a `quad2x2` tile (helpers and bindings:
// conv2d_common.wgsl). A quad takes 4 pixels × 16 blocks of 4 output channels; lane l computes the
// 4 pixels × blocks 16q + 4l ..+3, loads pixel l's input and hands it round (quadBroadcast). On a
// map of 1–4 pixels (a ResNet's last stages at 28–64 px, batch 1) `quad2x2` computes 28 rows, all
// but a few of them copies of the last pixel; here a quad computes 4, and loads each weight once,
// as `quad2x2` does: 17 vec4 loads per K step for 4 × 4 blocks per invocation.

const ROWS = 4u; // output pixels per invocation (and per quad)

// Workgroups of one quad: a small map's conv is a handful of quads, which SwiftShader deals out to
// its threads whole workgroups at a time.
@compute @workgroup_size(4)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) sid: u32) {
  let index = gid.x + gid.y * nwg.x * 4u;
  let quad = index >> 2u;
  let colQuads = (p.outC4 + 15u) / 16u;
  let pixels = p.batch * p.outH * p.outW;
  let m0 = (quad / colQuads) * ROWS;
  if (m0 >= pixels) { return; }
  let lane = sid & 3u;
  let co0 = (quad % colQuads) * 16u + 4u * lane;
  // This lane's loaded pixel (past the last, the last again; storeTile skips it).
  let o = origin(min(m0 + lane, pixels - 1u));
  let image = m0 / (p.outH * p.outW);
  // This lane's blocks (past the last, the last again; storeTile skips them).
  let blocks = co0 + vec4u(0u, 1u, 2u, 3u);
  let c = min(blocks, vec4u(p.outC4 - 1u));

  var a0 = mat4x4f(); var a1 = mat4x4f(); var a2 = mat4x4f(); var a3 = mat4x4f();
  for (var kh = 0u; kh < p.kH; kh++) {
    for (var kw = 0u; kw < p.kW; kw++) {
      let t = tap(o, kh, kw);
      var wi = image * p.imageWeights + (kh * p.kW + kw) * p.tapC4 * p.outC4;
      for (var c4 = 0u; c4 < p.tapC4; c4++) {
        let w0 = w[wi + c.x]; let w1 = w[wi + c.y]; let w2 = w[wi + c.z]; let w3 = w[wi + c.w];
        let q = x[t.offset + c4] * t.mask;
        let x0 = quadBroadcast(q, 0u);
        a0 += mat4x4f(w0 * x0, w1 * x0, w2 * x0, w3 * x0);
        let x1 = quadBroadcast(q, 1u);
        a1 += mat4x4f(w0 * x1, w1 * x1, w2 * x1, w3 * x1);
        let x2 = quadBroadcast(q, 2u);
        a2 += mat4x4f(w0 * x2, w1 * x2, w2 * x2, w3 * x2);
        let x3 = quadBroadcast(q, 3u);
        a3 += mat4x4f(w0 * x3, w1 * x3, w2 * x3, w3 * x3);
        wi += p.outC4;
      }
    }
  }
  storeTile(m0, 0u, blocks, array<mat4x4f, ROWS>(a0, a1, a2, a3));
}
