// What the bench page needs from each engine (bench/engines/*.ts), and what it sends back to Node.
import type { KernelChoices, MemoryReport, StepTiming } from '../src/index';

export const ENGINES = ['ours', 'ort-webgpu', 'tfjs-webgpu', 'ort-wasm'] as const;
export type EngineName = (typeof ENGINES)[number];

export interface EngineSpec {
  /** URL of the engine's model file: .safetensors (ours, tfjs) or .onnx (ort). */
  model: string;
  /** The batch, float32 NCHW, normalised, and its shape [N, C, H, W]. */
  input: Float32Array;
  shape: number[];
  /** CPU threads an engine may use (ort-wasm). */
  threads: number;
}

export interface Memory {
  bytes: number;
  /** What `bytes` counts, in words for the report. */
  measure: string;
  /** Ours: the high-water mark of the last run alone (an inference's peak: no load or tuning buffers). */
  inferenceBytes?: number;
  /** Ours: that peak's parts, to check it against weights + the two largest live activations. */
  breakdown?: MemoryReport;
}

export interface Engine {
  /** The backend as the engine reports it (adapter, execution provider). */
  readonly description: string;
  /** One inference on the spec's input, logits read back to JS. */
  run(): Promise<Float32Array>;
  /** The engine's own peak-memory figure, where it has one (else the page measures). */
  memory?(): Memory;
  /** Per-step GPU times (ours only). */
  profile?(): Promise<StepTiming[]>;
  /** The autotune's kernel picks and its time, spent after the first result (ours only). */
  kernels?(): KernelChoices;
  dispose(): void;
}

export type LoadEngine = (spec: EngineSpec) => Promise<Engine>;

export interface PageRequest {
  engine: EngineName;
  model: string;
  input: string;
  warmup: number;
  runs: number;
  threads: number;
  profile: boolean;
}

export interface PageResult {
  description: string;
  adapter: string;
  /** Load (fetch, parse, upload, compile) plus the first inference with its read-back. */
  firstResultMs: number;
  /** Each warm-up run. */
  warmupMs: number[];
  /** Each steady run after the warm-ups. */
  runsMs: number[];
  /** The first result's logits, and the last run's (ours: untuned, then tuned). */
  logits: number[];
  lastLogits: number[];
  /** The engine's own figure, else the page's GPU-buffer or page-memory measure (see bench/page.ts). */
  memory: Memory;
  /** High-water mark of bytes in GPU buffers the page created (createBuffer minus destroy), any engine. */
  gpuBufferPeakBytes: number;
  /** performance.measureUserAgentSpecificMemory() after the runs (JS heaps, wasm memories), if available. */
  pageMemoryBytes?: number;
  profile?: StepTiming[];
  kernels?: KernelChoices;
}
