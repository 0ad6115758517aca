/**
 * One dispatch of one WGSL kernel, TF.js-style: the kernel's TypeScript class (src/kernels) holds its
 * shader, its override constants and its shape uniforms. Bindings follow one convention in every
 * shader: 0 = the `Params` uniform, 1..k = inputs in order, k+1 = the output.
 */
export interface Program {
  /** Shader name (the .wgsl file's), used in pipeline keys, labels and profiles. */
  readonly name: string;
  readonly shader: string;
  /** WGSL `override` constants; each distinct set is one pipeline. */
  readonly constants: Record<string, number>;
  /** Contents of the shader's `Params` uniform struct. */
  readonly uniforms: ArrayBuffer;
  readonly workgroups: [number, number, number];
  /** Multiply-adds ×2, for GFLOP/s figures. */
  readonly flops: number;
  /** For kernels with interchangeable variants (Step.candidates): which one this is. */
  readonly variant?: string;
  /** For such kernels: the shape the autotune measures and caches its pick by. */
  readonly tuneKey?: string;
}

export const WORKGROUP_SIZE = 64;
const MAX_GROUPS_PER_DIM = 65535;

/**
 * Workgroups of `size` for `threads` invocations of a 1-D kernel. Past 65535 groups the grid folds
 * into y; shaders recover the linear index as `gid.x + gid.y * nwg.x * size`.
 */
export function workgroupsFor(threads: number, size = WORKGROUP_SIZE): [number, number, number] {
  const groups = Math.max(1, Math.ceil(threads / size));
  if (groups <= MAX_GROUPS_PER_DIM) return [groups, 1, 1];
  return [MAX_GROUPS_PER_DIM, Math.ceil(groups / MAX_GROUPS_PER_DIM), 1];
}

/** Pack a Params struct whose fields are all u32 (f32 fields are written through `floats`). */
export function packUniforms(u32s: number[], floats: number[] = []): ArrayBuffer {
  // Uniform structs are padded to 16 bytes.
  const words = Math.ceil((u32s.length + floats.length) / 4) * 4;
  const buffer = new ArrayBuffer(words * 4);
  new Uint32Array(buffer).set(u32s);
  new Float32Array(buffer).set(floats, u32s.length);
  return buffer;
}

export const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;
