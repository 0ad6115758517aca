// 2-D convolution as an implicit GEMM split along K inside each workgroup, for real GPUs: the
// late stages' small maps (7×7, 14×14 at batch 1) make too few output tiles to fill a large GPU,
// while their K (up to 9 × 512 input channels) is long. A workgroup of 256 invocations computes
// 16 pixels × 4*BN4 output channels as 256 / (4*BN4) slices (8 of 32 invocations, or 16 of 16);
// slice s takes input vec4 s, s + slices, … of every kernel tap, each invocation 4 pixels × 4
// channels straight from storage (cache-resident at these sizes, so no staging and no barrier in
// the loop). The slices' partial sums then meet in workgroup memory (16 KiB, WebGPU's default
// limit) for the epilogue. Parameters, bindings and helpers: conv2d_common.wgsl.

override BN4: u32 = 8u; // vec4 of output channels per tile: 8 or 4
const BM = 16u; // pixels per tile

var<workgroup> partial: array<vec4f, 1024>; // [slice][pixel][n4]: slices * BM * BN4 = 64 * BM

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nTiles = (p.outC4 + BN4 - 1u) / BN4;
  let group = wid.x + wid.y * nwg.x;
  let m0 = (group / nTiles) * BM;
  let n0 = (group % nTiles) * BN4;
  let pixels = p.batch * p.outH * p.outW;
  if (m0 >= pixels) { return; } // whole workgroup: the barrier below stays uniform

  let slices = 256u / (4u * BN4); // 8 or 16, of 4 * BN4 invocations each
  let slice = lid / (4u * BN4);
  let lane = lid % (4u * BN4);
  let pg = lane / BN4; // pixels m0 + 4pg .. + 3
  let n = min(n0 + lane % BN4, p.outC4 - 1u); // past the last block: a copy, not stored
  let last = pixels - 1u;
  let o0 = origin(min(m0 + 4u * pg, last));
  let o1 = origin(min(m0 + 4u * pg + 1u, last));
  let o2 = origin(min(m0 + 4u * pg + 2u, last));
  let o3 = origin(min(m0 + 4u * pg + 3u, last));
  var a0 = vec4f(0.0); var a1 = vec4f(0.0); var a2 = vec4f(0.0); var a3 = vec4f(0.0);
  // Per-image weights (Winograd's GEMM): a tile's 16 pixels are in one image.
  let wImage = u32(o0.x) * p.imageWeights;
  for (var kh = 0u; kh < p.kH; kh++) {
    for (var kw = 0u; kw < p.kW; kw++) {
      let t0 = tap(o0, kh, kw); let t1 = tap(o1, kh, kw); let t2 = tap(o2, kh, kw); let t3 = tap(o3, kh, kw);
      let wTap = wImage + (kh * p.kW + kw) * p.tapC4 * p.outC4 + n;
      for (var c = slice; c < p.tapC4; c += slices) {
        let b = w[wTap + c * p.outC4];
        a0 += b * (x[t0.offset + c] * t0.mask);
        a1 += b * (x[t1.offset + c] * t1.mask);
        a2 += b * (x[t2.offset + c] * t2.mask);
        a3 += b * (x[t3.offset + c] * t3.mask);
      }
    }
  }
  let at = slice * BM * BN4 + 4u * pg * BN4 + lane % BN4;
  partial[at] = a0;
  partial[at + BN4] = a1;
  partial[at + 2u * BN4] = a2;
  partial[at + 3u * BN4] = a3;
  workgroupBarrier();
  if (lid < BM * BN4) {
    var sum = partial[lid];
    for (var s = 1u; s < slices; s++) { sum += partial[s * BM * BN4 + lid]; }
    let m = m0 + lid / BN4;
    let co = n0 + lid % BN4;
    if (m < pixels) {
      let c = min(co, p.outC4 - 1u);
      store(m, co, sum, scaleBias[c], scaleBias[p.outC4 + c]);
    }
  }
}
