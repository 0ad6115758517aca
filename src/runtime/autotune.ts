import { createBuffer, destroyBuffer, uniformBuffer } from './buffers';
import type { Gpu } from './device';
import { getPipeline } from './pipelines';
import { canProfile } from './profiler';
import type { Program } from './program';

/**
 * Where the autotune keeps its picks (a variant name by key; keys name the adapter, the kernels'
 * source and the layer shape). Browsers default to localStorage, so a page's later visits skip
 * the measuring; elsewhere the picks last for the process.
 */
export interface TuneCache {
  get(key: string): string | null | undefined;
  set(key: string, variant: string): void;
}

/**
 * One tuned step: the variant it runs, and why: measured now (`ms`: each candidate's estimated
 * time per whole dispatch), read from the cache, the only candidate left after pruning, or (in a
 * model's report) the only candidate it had, or not tuned yet (a shape's first run).
 */
export interface Tuning {
  label: string;
  shape: string;
  variant: string;
  from: 'measured' | 'cache' | 'pruned' | 'only' | 'untuned';
  ms: Record<string, number>;
}

/** What the autotune decided for a schedule, and the time it took (compiling and measuring; ~0 when every pick was cached). */
export interface KernelChoices {
  tuneMs: number;
  layers: Tuning[];
}

/** `register ×50, tiled64 ×3 of 53 convs (measured ×5, pruned ×48; 1.96 s)`: what runs, and how it was chosen. */
export function describeKernelChoices({ tuneMs, layers }: KernelChoices): string {
  const tally = (values: string[]): string => {
    const counts = new Map<string, number>();
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
    return [...counts].map(([v, n]) => `${v} ×${n}`).join(', ');
  };
  if (!layers.length) return 'no choice to make';
  return `${tally(layers.map((t) => t.variant))} of ${layers.length} convs (${tally(layers.map((t) => t.from))}; ${(tuneMs / 1000).toFixed(2)} s)`;
}

/** A candidate that runs as several dispatches in order (Winograd's three), timed as one. */
export interface ProgramSequence {
  variant: string;
  parts: Program[];
  /** The layer shape, as the step's single-program candidates name it (Program.tuneKey). */
  tuneKey: string;
}

export type Candidate = Program | ProgramSequence;

/** A candidate's programs: a sequence's parts, else itself. */
function partsOf(c: Candidate): Program[] {
  return 'parts' in c ? c.parts : [c];
}

/**
 * A step with interchangeable candidates, and how to bind each program's pipeline (each part of a
 * sequence) to the step's buffers, with `params` (the program's uniforms, made by the autotune).
 */
export interface Tunable<C extends Candidate = Program> {
  label: string;
  candidates: C[];
  bind(program: Program, pipeline: GPUComputePipeline, params: GPUBuffer): GPUBindGroup;
}

// Slow (CPU) adapters are timed on a slice of a layer of about this many FLOPs, not the whole
// layer, and of at least MIN_SAMPLE_GROUPS workgroups, so that the slice keeps every core busy as
// the whole layer does (else variants with fewer, larger workgroups would look faster). On
// SwiftShader a slice of 1e7 (~1.3 ms) was too small: browsers round timestamps to 0.1 ms, and each
// dispatch's fixed cost, scaled up with the slice, counted against Winograd's three; ResNet-50's
// layer4 then went to the direct conv (26.7 against 28.4 ms measured, 26.4 against ~22.6 ms run).
const SAMPLE_FLOPS = 1e8;
const MIN_SAMPLE_GROUPS = 16;
// A slice faster than this (over 40 GFLOP/s) means a fast adapter: whole dispatches are timed,
// repeated until one pass takes MIN_MS, so the clock (timestamps quantised to 0.1 ms in browsers,
// or the wall clock) resolves them.
const FAST_MS = 0.25;
const MIN_MS = 3;
const MAX_REPEATS = 1024;
// A candidate more than PRUNE times slower than the best on PRUNE_AFTER shapes in a row, or more
// than PRUNE_AT_ONCE times on one, is not measured again for this model: on a CPU adapter the
// barrier-using kernels are (~5× on the first shape), and timing them on every shape would cost
// seconds; on the smallest layers, which cannot be sliced, one such measurement takes ~0.3 s.
// Once one candidate is left, it runs without being measured. Sequences (Winograd's forms) are
// never dropped: which form wins depends on the map, not on the model (F(2×2) loses to F(4×4) on
// large maps by ~1.5×, and is the faster candidate on 7×7 ones, where F(4×4) is none: dropped, it
// once left ResNet-50's layer4 to the direct conv, ~40% slower there). A GPU (not a fallback
// adapter) prunes nothing: measuring every candidate on ResNet-50's shapes takes it well under a
// second, and the kernel that wins small maps by 3× (ksplit) loses large ones by 2× (on an H100).
const PRUNE = 1.5;
const PRUNE_AFTER = 2;
const PRUNE_AT_ONCE = 3;

const memoryCache = new Map<string, string>();

export function defaultTuneCache(): TuneCache {
  if ('document' in globalThis && globalThis.localStorage) {
    return {
      get: (key) => localStorage.getItem(key),
      set: (key, variant) => {
        try {
          localStorage.setItem(key, variant);
        } catch {
          // Storage full or denied: the pick still applies to this model.
        }
      },
    };
  }
  return { get: (key) => memoryCache.get(key), set: (key, variant) => void memoryCache.set(key, variant) };
}

/**
 * Pick each tunable step's fastest candidate on this adapter, by measurement: per distinct shape
 * (`Program.tuneKey`), each candidate runs on the step's own buffers (whatever they hold) and the
 * one with the least time per whole dispatch wins (see createClock). Picks are cached per adapter in
 * `gpu.tuneCache`. Returns the chosen program per step, and what was decided.
 */
export async function autotune<C extends Candidate>(gpu: Gpu, steps: Tunable<C>[]): Promise<{ programs: C[]; choices: KernelChoices }> {
  const start = performance.now();
  const picks = new Map<string, { variant: string; from: Tuning['from']; ms: Record<string, number> }>();
  // Per candidate, on how many shapes in a row it has lost by more than PRUNE; past PRUNE_AFTER it is out.
  const losses = new Map<string, number>();
  const pruned = (variant: string): boolean => gpu.adapter.isFallbackAdapter && (losses.get(variant) ?? 0) >= PRUNE_AFTER;
  // Compile what may be measured in parallel, before timing anything.
  const uncached = steps.filter((s) => s.candidates.length > 1 && !gpu.tuneCache.get(cacheKey(gpu, s.candidates)));
  await Promise.all(uncached.flatMap((s) => s.candidates.flatMap((c) => partsOf(c))).map((program) => getPipeline(gpu, program)));
  const programs: C[] = steps.map((s) => s.candidates[0]);
  const tunings: (Tuning | undefined)[] = [];
  const clock = createClock(gpu);
  const trialParams: GPUBuffer[] = [];
  try {
    for (const i of extremesFirst(steps)) {
      const step = steps[i];
      if (step.candidates.length === 1) continue;
      const key = cacheKey(gpu, step.candidates);
      let pick = picks.get(key);
      if (!pick) {
        // A shape met first in this model: from the cache, by pruning, or measured, and kept for its later steps.
        const cached = gpu.tuneCache.get(key);
        // Pruning may have dropped every candidate a step has (those that won elsewhere are not
        // among them): then all are measured.
        const unpruned = step.candidates.filter((c) => 'parts' in c || !pruned(variantOf(c)));
        const left = unpruned.length ? unpruned : step.candidates;
        if (cached && step.candidates.some((c) => variantOf(c) === cached)) {
          pick = { variant: cached, from: 'cache', ms: {} };
        } else if (left.length === 1) {
          pick = { variant: variantOf(left[0]), from: 'pruned', ms: {} };
        } else {
          const trials = await Promise.all(left.map(async (candidate) => {
            const parts = await Promise.all(partsOf(candidate).map(async (program) => {
              const pipeline = await getPipeline(gpu, program);
              const params = uniformBuffer(gpu, program.uniforms, `${step.label} trial params`);
              trialParams.push(params);
              return { program, pipeline, bindGroup: step.bind(program, pipeline, params) };
            }));
            return { variant: variantOf(candidate), parts };
          }));
          const times = await timeCandidates(clock, trials.map((t) => t.parts));
          const ms = Object.fromEntries(trials.map((t, j) => [t.variant, times[j]]));
          const best = Math.min(...Object.values(ms));
          for (const [variant, t] of Object.entries(ms)) {
            losses.set(variant, t > PRUNE_AT_ONCE * best ? PRUNE_AFTER : t > PRUNE * best ? (losses.get(variant) ?? 0) + 1 : 0);
          }
          const variant = Object.keys(ms).find((v) => ms[v] === best)!;
          pick = { variant, from: 'measured', ms };
        }
        if (pick.from !== 'cache') gpu.tuneCache.set(key, pick.variant);
        picks.set(key, pick);
      }
      programs[i] = step.candidates.find((c) => variantOf(c) === pick.variant)!;
      tunings[i] = { label: step.label, shape: shapeOf(step.candidates[0]), ...pick };
    }
  } finally {
    for (const b of trialParams) destroyBuffer(gpu, b);
  }
  return { programs, choices: { tuneMs: performance.now() - start, layers: tunings.filter((t) => t !== undefined) } };
}

/**
 * Step indices, the largest dispatch first, then the smallest, then the next largest, and so on:
 * a candidate made for small late-stage layers (ksplit) meets one before two losses on large
 * early layers could prune it. (One that loses by over 3× on the largest is dropped there: on a
 * CPU adapter, the workgroup-memory kernels against the register one.)
 */
function extremesFirst(steps: Tunable<Candidate>[]): number[] {
  const size = (i: number): number => Math.max(...partsOf(steps[i].candidates[0]).map((p) => p.workgroups.reduce((a, b) => a * b, 1)));
  const bySize = steps.map((_, i) => i).sort((a, b) => size(a) - size(b));
  const order: number[] = [];
  while (bySize.length) {
    order.push(bySize.pop()!);
    if (bySize.length) order.push(bySize.shift()!);
  }
  return order;
}

const variantOf = (c: Candidate): string => ('parts' in c ? c.variant : (c.variant ?? c.name));
const shapeOf = (c: Candidate): string => c.tuneKey ?? ('parts' in c ? c.parts[0].name : c.name);

/** Adapter and candidates, with a hash of their source so that edited kernels are measured afresh. */
function candidatesKey(gpu: Gpu, candidates: Candidate[]): string {
  const { vendor, architecture, description } = gpu.adapter;
  const source = candidates
    .flatMap((c) => partsOf(c))
    .map((c) => `${c.shader}${JSON.stringify(c.constants)}`)
    .join('');
  return `resnet-webgpu autotune|${vendor}/${architecture}/${description}|${candidates.map(variantOf).join(',')}#${fnv1a(source)}`;
}

/** A layer shape's pick. */
const cacheKey = (gpu: Gpu, candidates: Candidate[]): string => `${candidatesKey(gpu, candidates)}|${shapeOf(candidates[0])}`;

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/** One dispatch as the clock runs it. */
interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  groups: [number, number, number];
}

/** A candidate's programs, each bound to the step's buffers. */
type Bound = { program: Program; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup }[];

/**
 * Estimated ms of one whole run of each candidate (its dispatches in order): the better of two
 * measurements, in two rounds of one submit each (a round trip costs milliseconds on a CPU
 * adapter), the second in reverse order. A candidate more than PRUNE_AT_ONCE times slower than
 * the best is timed once (a clear loser needs no precision, and on a CPU adapter one measurement
 * of a slow variant on a layer that cannot be sliced finely takes hundreds of ms). Right after a
 * model loads, other work on the CPU (the page's, the browser's) slows whatever is being timed by
 * up to ~4× for a moment: F(2×2) on ResNet-18's layer1 measured 40–65 ms once, 25–31 ms again.
 * On a slow adapter a slice runs the same fraction of every dispatch's workgroups; on a fast one
 * whole dispatches, repeated until a pass takes MIN_MS.
 */
async function timeCandidates(clock: Clock, candidates: Bound[]): Promise<number[]> {
  const count = (g: [number, number, number]): number => g[0] * g[1] * g[2];
  const trials = candidates.map((parts) => {
    const flops = parts.reduce((sum, p) => sum + p.program.flops, 0);
    const largest = Math.max(...parts.map((p) => count(p.program.workgroups)));
    const fraction = Math.min(1, Math.max(MIN_SAMPLE_GROUPS / largest, SAMPLE_FLOPS / flops));
    const dispatches = parts.map(({ program, pipeline, bindGroup }): Dispatch => {
      const total = count(program.workgroups);
      return { pipeline, bindGroup, groups: [Math.min(total, 65535, Math.max(1, Math.ceil(fraction * total))), 1, 1] };
    });
    return { parts, flops, dispatches, repeats: 1 };
  });
  const first = await clock(trials);
  for (const [i, trial] of trials.entries()) {
    if (first[i] >= FAST_MS) continue;
    trial.dispatches = trial.parts.map(({ program, pipeline, bindGroup }) => ({ pipeline, bindGroup, groups: program.workgroups }));
    for (first[i] = (await clock([trial]))[0]; first[i] < MIN_MS && trial.repeats < MAX_REPEATS; ) {
      trial.repeats *= 4;
      first[i] = (await clock([trial]))[0];
    }
  }
  // The share of the whole run measured, each dispatch weighted by its FLOPs.
  const shares = trials.map(({ parts, flops, dispatches, repeats }) => (repeats * dispatches.reduce((sum, d, i) => sum + (parts[i].program.flops * count(d.groups)) / count(parts[i].program.workgroups), 0)) / flops);
  const estimates = first.map((ms, i) => ms / shares[i]);
  const best = Math.min(...estimates);
  const again = estimates.flatMap((ms, i) => (ms <= PRUNE_AT_ONCE * best ? [i] : [])).reverse();
  const second = await clock(again.map((i) => trials[i]));
  for (const [j, i] of again.entries()) estimates[i] = Math.min(estimates[i], second[j] / shares[i]);
  return estimates;
}

/** Dispatches to run `repeats` times over, in one compute pass. */
interface Run {
  dispatches: Dispatch[];
  repeats: number;
}

/** Runs each of `runs` in a compute pass of its own, in order, and says how many ms each took. */
type Clock = (runs: Run[]) => Promise<number[]>;

/**
 * A clock from timestamp queries where the device has them: GPU time of each pass alone, in one
 * submit, without the submit and read-back latency a wall clock adds (milliseconds in a browser,
 * where it would swamp a sliced dispatch). Else the wall clock from submit to onSubmittedWorkDone,
 * a submit per run.
 */
function createClock(gpu: Gpu): Clock {
  const { device } = gpu;
  const encodeRun = (encoder: GPUCommandEncoder, { dispatches, repeats }: Run, timestampWrites?: GPUComputePassTimestampWrites): void => {
    const pass = encoder.beginComputePass({ timestampWrites });
    for (let i = 0; i < repeats; i++) {
      for (const { pipeline, bindGroup, groups } of dispatches) {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(...groups);
      }
    }
    pass.end();
  };
  if (!canProfile(gpu)) {
    return async (runs) => {
      const ms: number[] = [];
      for (const run of runs) {
        const encoder = device.createCommandEncoder({ label: 'autotune' });
        encodeRun(encoder, run);
        const start = performance.now();
        device.queue.submit([encoder.finish()]);
        await device.queue.onSubmittedWorkDone();
        ms.push(performance.now() - start);
      }
      return ms;
    };
  }
  return async (runs) => {
    if (!runs.length) return [];
    const bytes = 16 * runs.length;
    const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * runs.length });
    const resolve = createBuffer(gpu, bytes, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'autotune timestamps');
    const readback = createBuffer(gpu, bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'autotune timestamps readback');
    try {
      const encoder = device.createCommandEncoder({ label: 'autotune' });
      runs.forEach((run, i) => encodeRun(encoder, run, { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 }));
      encoder.resolveQuerySet(querySet, 0, 2 * runs.length, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, bytes);
      device.queue.submit([encoder.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      const stamps = new BigInt64Array(readback.getMappedRange());
      const ms = runs.map((_, i) => Number(stamps[2 * i + 1] - stamps[2 * i]) / 1e6);
      readback.unmap();
      return ms;
    } finally {
      querySet.destroy();
      destroyBuffer(gpu, resolve);
      destroyBuffer(gpu, readback);
    }
  };
}
