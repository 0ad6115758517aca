// Node entry: everything in ./index.ts plus a Dawn-backed GPU and file loading.
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { create, globals } from 'webgpu';
import { createGpu, type Gpu, type GpuOptions } from './runtime/device';
import { openWeights, type WeightOptions } from './model/load';
import { fetchWeights } from './model/fetch';
import type { PreparedWeights } from './model/tensors';

export * from './index';

// Dawn's WebGPU classes and constants (GPUBufferUsage, …) as the browser has them.
Object.assign(globalThis, globals);

/** Where a Chromium install keeps SwiftShader's Vulkan driver manifest. */
function swiftShaderIcds(): string[] {
  const found = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json', '/opt/google/chrome/vk_swiftshader_icd.json'];
  const playwright = join(homedir(), '.cache', 'ms-playwright');
  if (existsSync(playwright)) {
    for (const dir of readdirSync(playwright)) found.push(join(playwright, dir, 'chrome-linux', 'vk_swiftshader_icd.json'));
  }
  return found.filter((f) => existsSync(f));
}

/**
 * A GPU through Dawn. Uses the machine's GPU when it has one; otherwise falls back to SwiftShader
 * (a CPU Vulkan driver that ships with Chromium), found by itself.
 */
export async function createNodeGpu(options: GpuOptions = {}): Promise<Gpu> {
  try {
    return await createGpu(dawn(), options);
  } catch (first) {
    const icd = process.env.VK_ICD_FILENAMES ? undefined : swiftShaderIcds()[0];
    if (!icd && !process.env.VK_ICD_FILENAMES) throw first;
    if (icd) process.env.VK_ICD_FILENAMES = icd;
    return createGpu(dawn(true), { ...options, forceFallbackAdapter: true });
  }
}

// Dawn instances are kept for the life of the process: one collected while its devices still
// work takes their pending callbacks (and the process) down with it.
const instances: GPU[] = [];
function dawn(fresh = false): GPU {
  if (fresh || !instances.length) instances.push(create([]));
  return instances[instances.length - 1];
}

/** Read weights in any supported format from a file path, an http(s) URL or hf:owner/repo[@revision] (see loadModel). */
export async function readWeightsFile(path: string, options: WeightOptions = {}): Promise<PreparedWeights> {
  if (/^(https?:\/\/|hf:)/i.test(path)) return (await fetchWeights(path, options)).weights;
  const dir = dirname(resolve(path));
  return openWeights(basename(path), async (rel) => new Uint8Array(await readFile(resolve(dir, rel))), options);
}
