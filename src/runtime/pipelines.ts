import type { Gpu } from './device';
import { GpuError } from './errors';
import type { Program } from './program';

/** A page or a worker, whose WebGPU calls a GPU process carries out (not Node's Dawn, in this process). */
const IN_BROWSER = 'document' in globalThis || 'WorkerGlobalScope' in globalThis;

const caches = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** What a pipeline depends on: the shader and its override constants, not the shapes (those are uniforms). */
export type Kernel = Pick<Program, 'name' | 'shader' | 'constants'>;

export function pipelineKey(program: Kernel): string {
  return `${program.name}${JSON.stringify(program.constants)}`;
}

/**
 * The compute pipeline for a program, compiled once per device and shared by every model on it.
 * Compilation is asynchronous, so a model's script goes on while its pipelines compile.
 *
 * Chromium compiles asynchronous pipelines one at a time, on one thread of its GPU process. With
 * `beside`, in a browser, the pipeline is created synchronously instead: the GPU process's main
 * thread compiles it, beside that queue, while the page's call returns at once. Anything the page
 * sends the GPU process after it waits for it (create asynchronous pipelines first). In Node
 * (Dawn in this process) a synchronous creation would block the caller: `beside` is ignored there.
 */
export function getPipeline(gpu: Gpu, program: Kernel, beside = false): Promise<GPUComputePipeline> {
  let cache = caches.get(gpu.device);
  if (!cache) caches.set(gpu.device, (cache = new Map()));
  const key = pipelineKey(program);
  let pipeline = cache.get(key);
  if (!pipeline) {
    const module = gpu.device.createShaderModule({ code: program.shader, label: program.name });
    const descriptor: GPUComputePipelineDescriptor = { label: key, layout: 'auto', compute: { module, entryPoint: 'main', constants: program.constants } };
    pipeline = (beside && IN_BROWSER ? createBeside(gpu.device, descriptor) : gpu.device.createComputePipelineAsync(descriptor))
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

/** A synchronously created pipeline, once compiled (its error scopes settle then), or its error. */
async function createBeside(device: GPUDevice, descriptor: GPUComputePipelineDescriptor): Promise<GPUComputePipeline> {
  device.pushErrorScope('validation');
  device.pushErrorScope('internal');
  const pipeline = device.createComputePipeline(descriptor);
  const errors = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
  const error = errors.find((e) => e !== null);
  if (error) throw new Error(error.message);
  return pipeline;
}
