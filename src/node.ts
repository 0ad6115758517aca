// Node entry: everything in ./index.ts plus a Dawn-backed GPU and file loading.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { create, globals } from 'webgpu';
import type { TuneCache } from './runtime/autotune';
import { createGpu, type Gpu, type GpuOptions } from './runtime/device';
import { WebGpuUnavailableError } from './runtime/errors';
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
 * Whether Linux's Vulkan loader would find a driver: a manifest in its search folders, or one named
 * by its environment variables. Elsewhere, Dawn uses other APIs: true.
 */
function hasVulkanDrivers(): boolean {
  if (process.platform !== 'linux' || ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES'].some((v) => process.env[v])) return true;
  const { XDG_CONFIG_DIRS = '/etc/xdg', XDG_DATA_HOME = join(homedir(), '.local', 'share'), XDG_DATA_DIRS = '/usr/local/share:/usr/share' } = process.env;
  const dirs = [...XDG_CONFIG_DIRS.split(':'), '/usr/local/etc', '/etc', XDG_DATA_HOME, ...XDG_DATA_DIRS.split(':')].map((d) => join(d, 'vulkan', 'icd.d'));
  return dirs.some((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json')));
}

/**
 * A GPU through Dawn. Uses the machine's GPU when it has one; otherwise falls back to SwiftShader
 * (a CPU Vulkan driver that ships with Chromium), found by itself. The autotune's picks persist
 * in a file (fileTuneCache) unless `options.tuneCache` says otherwise.
 */
export async function createNodeGpu(options: GpuOptions = {}): Promise<Gpu> {
  options = { tuneCache: fileTuneCache(), ...options };
  try {
    // With no Vulkan driver installed, asking only prints the loader's warnings ("Found no drivers!").
    if (!hasVulkanDrivers() && swiftShaderIcds().length) throw new WebGpuUnavailableError('no Vulkan driver installed');
    return await createGpu(dawn(), options);
  } catch (first) {
    const icd = process.env.VK_ICD_FILENAMES ? undefined : swiftShaderIcds()[0];
    if (!icd && !process.env.VK_ICD_FILENAMES) throw withVulkanHint(first);
    if (icd) process.env.VK_ICD_FILENAMES = icd;
    try {
      return await createGpu(dawn(true), { ...options, forceFallbackAdapter: true });
    } catch (second) {
      throw withVulkanHint(second);
    }
  }
}

/** No adapter in Node: say what Dawn needs on Linux (its warnings on stderr say which part failed). */
function withVulkanHint(e: unknown): unknown {
  if (!(e instanceof WebGpuUnavailableError) || process.platform !== 'linux') return e;
  const driver = process.env.VK_ICD_FILENAMES ? `the driver VK_ICD_FILENAMES names (${process.env.VK_ICD_FILENAMES})` : "a GPU's Vulkan driver, or SwiftShader (Debian: apt-get install chromium)";
  return new WebGpuUnavailableError(`${e.message} Dawn in Node needs the Vulkan loader (libvulkan.so.1; Debian: apt-get install libvulkan1) and ${driver}.`);
}

/**
 * Dawn's options for every instance: timestamps at full resolution. Browsers round them (to ~0.1 ms
 * in Dawn) against timing attacks, which leaves a fast GPU's passes at 0 or one step apart.
 */
export const DAWN_OPTIONS = ['disable-dawn-features=timestamp_quantization'];

// Dawn instances are kept for the life of the process: one collected while its devices still
// work takes their pending callbacks (and the process) down with it.
const instances: GPU[] = [];
function dawn(fresh = false): GPU {
  if (fresh || !instances.length) instances.push(create(DAWN_OPTIONS));
  return instances[instances.length - 1];
}

/** Read weights in any supported format from a file path, an http(s) URL or hf:owner/repo[@revision] (see loadModel). */
export async function readWeightsFile(path: string, options: WeightOptions = {}): Promise<PreparedWeights> {
  if (/^(https?:\/\/|hf:)/i.test(path)) return (await fetchWeights(path, options)).weights;
  const dir = dirname(resolve(path));
  return openWeights(basename(path), async (rel) => new Uint8Array(await readFile(resolve(dir, rel))), options);
}

/**
 * The autotune's picks in a JSON file (default `$XDG_CACHE_HOME/resnet-webgpu/autotune.json`, or
 * under ~/.cache), so later processes on this machine skip the measuring. An unreadable file
 * counts as empty; an unwritable one leaves the picks to this process.
 */
export function fileTuneCache(path = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'resnet-webgpu', 'autotune.json')): TuneCache {
  let picks: Record<string, unknown> | undefined;
  const read = (): Record<string, unknown> => {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  return {
    get: (key) => {
      const variant = (picks ??= read())[key];
      return typeof variant === 'string' ? variant : undefined;
    },
    set: (key, variant) => {
      // Re-read first: other processes may have added picks since.
      picks = { ...read(), [key]: variant };
      try {
        mkdirSync(dirname(path), { recursive: true });
        // Write beside and rename: a reader never sees half a file.
        const temp = `${path}.${process.pid}.tmp`;
        writeFileSync(temp, JSON.stringify(picks));
        renameSync(temp, path);
      } catch {
        // Read-only cache directory: the picks last for this process.
      }
    },
  };
}
