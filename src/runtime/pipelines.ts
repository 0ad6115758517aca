import type { Gpu } from './device';
import { GpuError } from './errors';
import type { Program } from './program';

const caches = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** What a pipeline depends on: the shader and its override constants, not the shapes (those are uniforms). */
export type Kernel = Pick<Program, 'name' | 'shader' | 'constants'>;

export function pipelineKey(program: Kernel): string {
  return `${program.name}${JSON.stringify(program.constants)}`;
}

/**
 * The compute pipeline for a program, compiled once per device and shared by every model on it.
 * Compilation is asynchronous, so a model's script goes on while its pipelines compile.
 */
export function getPipeline(gpu: Gpu, program: Kernel): Promise<GPUComputePipeline> {
  let cache = caches.get(gpu.device);
  if (!cache) caches.set(gpu.device, (cache = new Map()));
  const key = pipelineKey(program);
  let pipeline = cache.get(key);
  if (!pipeline) {
    const module = gpu.device.createShaderModule({ code: program.shader, label: program.name });
    pipeline = gpu.device
      .createComputePipelineAsync({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: 'main', constants: program.constants },
      })
      .catch(async (e: unknown) => {
        cache.delete(key);
        const info = await module.getCompilationInfo();
        const messages = info.messages.map((m) => `${program.name}.wgsl:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`);
        throw new GpuError(`compiling kernel ${key} failed: ${messages.join('; ') || (e instanceof Error ? e.message : String(e))}`);
      });
    cache.set(key, pipeline);
  }
  return pipeline;
}
