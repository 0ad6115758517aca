// The register kernels' tile epilogue (conv2d.wgsl, conv2d_quad*.wgsl; joined
// after conv2d_common.wgsl): each kernel's ROWS accumulators, through store().

// Columns by constant index: indexed by a loop variable, SwiftShader keeps the matrices in memory.
fn storeRow(m: u32, blocks: vec4u, acc: mat4x4f, scale: mat4x4f, bias: mat4x4f) {
  if (m >= p.batch * p.outH * p.outW) { return; }
  store(m, blocks.x, acc[0], scale[0], bias[0]);
  store(m, blocks.y, acc[1], scale[1], bias[1]);
  store(m, blocks.z, acc[2], scale[2], bias[2]);
  store(m, blocks.w, acc[3], scale[3], bias[3]);
}

// A tile's epilogue: acc[r] is row m0 + (r ^ rowFlip); its column k, channel block blocks[k]
// (blocks past the last are skipped).
fn storeTile(m0: u32, rowFlip: u32, blocks: vec4u, acc: array<mat4x4f, ROWS>) {
  let c = min(blocks, vec4u(p.outC4 - 1u));
  let s = mat4x4f(scaleBias[c.x], scaleBias[c.y], scaleBias[c.z], scaleBias[c.w]);
  let b = mat4x4f(scaleBias[p.outC4 + c.x], scaleBias[p.outC4 + c.y], scaleBias[p.outC4 + c.z], scaleBias[p.outC4 + c.w]);
  for (var r = 0u; r < ROWS; r++) { storeRow(m0 + (r ^ rowFlip), blocks, acc[r], s, b); }
}
