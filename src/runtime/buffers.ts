import type { Gpu } from './device';
import { GpuLimitError } from './errors';

/**
 * Create a GPU buffer and count it against `gpu.liveBuffers` / `gpu.liveBytes`. A size past the
 * device's limits throws a GpuLimitError naming the buffer: WebGPU itself would only make an
 * invalid buffer and report it out of band, and the inference would read zeros.
 */
export function createBuffer(gpu: Gpu, size: number, usage: GPUBufferUsageFlags, label?: string, mappedAtCreation = false): GPUBuffer {
  // WebGPU wants sizes in multiples of 4; an empty binding is invalid, so keep at least 16 bytes.
  const padded = Math.max(16, Math.ceil(size / 16) * 16);
  checkBufferSize(gpu, padded, usage & GPUBufferUsage.STORAGE ? 'storage' : 'other', label ?? 'a buffer');
  const buffer = gpu.device.createBuffer({ size: padded, usage, label, mappedAtCreation });
  gpu.liveBuffers++;
  gpu.liveBytes += padded;
  return buffer;
}

export function destroyBuffer(gpu: Gpu, buffer: GPUBuffer): void {
  gpu.liveBuffers--;
  gpu.liveBytes -= buffer.size;
  buffer.destroy();
}

// A function, not a constant: in Node the GPU* globals exist only once ../node.ts has run.
const storageUsage = (): GPUBufferUsageFlags => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** A storage buffer holding `data`. */
export function uploadBuffer(gpu: Gpu, data: ArrayBufferView, label?: string): GPUBuffer {
  const buffer = createBuffer(gpu, data.byteLength, storageUsage(), label);
  gpu.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return buffer;
}

export function storageBuffer(gpu: Gpu, size: number, label?: string): GPUBuffer {
  return createBuffer(gpu, size, storageUsage(), label);
}

/** A bind group of group 0 binding `buffers` in order (binding 0 = the uniforms, by the convention in ./program.ts). */
export function bindBuffers(gpu: Gpu, pipeline: GPUComputePipeline, buffers: GPUBuffer[], label?: string): GPUBindGroup {
  return gpu.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
}

export function uniformBuffer(gpu: Gpu, data: ArrayBuffer, label?: string): GPUBuffer {
  const buffer = createBuffer(gpu, data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label);
  gpu.device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

/** Throw a GpuLimitError if a buffer of `bytes` would exceed the device's limits (storage buffers are bound whole). */
export function checkBufferSize(gpu: Gpu, bytes: number, kind: 'storage' | 'other', what: string, advice = ''): void {
  const { maxBufferSize, maxStorageBufferBindingSize } = gpu.device.limits;
  if (kind === 'storage' && bytes > maxStorageBufferBindingSize) throw new GpuLimitError('maxStorageBufferBindingSize', what, bytes, maxStorageBufferBindingSize, advice);
  if (bytes > maxBufferSize) throw new GpuLimitError('maxBufferSize', what, bytes, maxBufferSize, advice);
}
