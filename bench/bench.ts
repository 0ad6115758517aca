// `npm run bench`: the same seeded ResNet in our library and its peers, each in a fresh headless
// Chromium (or, with --runtime node, a fresh Node process on Dawn), on the same input. Checks the
// engines agree, then reports times and memory.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from '@playwright/test';
import { argmaxRows, compare, PYTHON, ROOT, torchReference } from '../test/fixtures';
import { describeKernelChoices, type KernelChoices, type MemoryReport, type StepTiming, type Tuning } from '../src/index';
import { ENGINES, type EngineName, type PageRequest, type PageResult } from './engine';

export interface BenchOptions {
  model: 'resnet18' | 'resnet50';
  engines: EngineName[];
  runs: number;
  warmup: number;
  batch: number;
  size: number;
  profile: boolean;
  /** Seconds one engine (load, warm-ups, runs) may take before it counts as failed. */
  timeout: number;
  /** Where each engine runs: a fresh headless Chromium, or a fresh Node process on Dawn (no browser needed: GPU machines without one). */
  runtime: 'chromium' | 'node';
}

// SwiftShader takes ~30 s per ResNet-50 image in the slowest peers: few runs keep every engine's
// share (first result + warm-up + runs) to a few minutes.
export const DEFAULTS: BenchOptions = { model: 'resnet50', engines: [...ENGINES], runs: 3, warmup: 1, batch: 1, size: 224, profile: false, timeout: 600, runtime: 'chromium' };

export interface EngineReport {
  description: string;
  firstResultMs: number;
  /** The run after the first result: the first warm-up, else the first timed run (ours tunes before it). */
  secondResultMs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  runsMs: number[];
  peakMemoryBytes: number;
  peakMemoryMeasure: string;
  /** Ours: the last run's high-water mark, and its parts (weights, activation buffers, the two largest live activations). */
  inferencePeakBytes?: number;
  memoryBreakdown?: MemoryReport;
  gpuBufferPeakBytes: number;
  pageMemoryBytes?: number;
  top1: number[];
  maxAbsDiffVsTorch: number;
  maxAbsDiffVsOurs?: number;
  /** ours ÷ this engine: below 1 means ours is faster (or smaller). */
  oursOver?: { firstResult: number; median: number; peakMemory: number };
}

export interface BenchReport {
  options: BenchOptions;
  adapter: string;
  /** Chromium's or Node's version, with Dawn's. */
  runtime: string;
  threads: number;
  torchTop1: number[];
  engines: Partial<Record<EngineName, EngineReport>>;
  /** Engines that threw or timed out, with the message. */
  failures: Partial<Record<EngineName, string>>;
  profile?: StepTiming[];
  /** Ours: what the autotune picked for each conv, measured after the first result (a fresh browser has no cached picks). */
  kernels?: KernelChoices;
}

const EXTRA_FLAGS = ['--enable-blink-features=ForceEagerMeasureMemory']; // measureUserAgentSpecificMemory answers at once, not at the next GC
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The seeded torchvision model, its input and PyTorch's logits, plus the ONNX and TF.js exports of it. */
function fixtures(options: BenchOptions) {
  const ref = torchReference({ arch: options.model, classes: 1000, batch: options.batch, height: options.size, width: options.size });
  const peers = join(ROOT, '.cache', 'bench', basename(ref.dir));
  const onnx = join(peers, 'model.onnx');
  const tfjs = join(peers, 'tfjs.safetensors');
  if (options.engines.some((e) => e !== 'ours') && !(existsSync(onnx) && existsSync(tfjs))) {
    // prettier-ignore
    execFileSync(PYTHON, [join(ROOT, 'bench', 'export_peers.py'), '--arch', options.model, '--model', ref.model,
      '--shape', ref.input.shape.join(','), '--out', peers], { stdio: 'inherit' });
  }
  const url = (file: string) => '/' + relative(ROOT, file).split(sep).join('/');
  const models: Record<EngineName, string> = { ours: url(ref.model), 'ort-webgpu': url(onnx), 'tfjs-webgpu': url(tfjs), 'ort-wasm': url(onnx) };
  return { ref, models, input: url(join(ref.dir, 'input.npy')) };
}

/**
 * Run the bench; `log` gets progress lines. An engine that fails is reported in `failures` and the
 * others still run; engines that disagree with PyTorch on a top-1 class make it throw.
 */
export async function runBench(options: BenchOptions, log: (line: string) => void, self: string): Promise<BenchReport> {
  const { ref, models, input } = fixtures(options);
  const classes = ref.logits.shape[1];
  const torchTop1 = argmaxRows(ref.logits.data, classes);
  const threads = availableParallelism();
  const host = options.runtime === 'node' ? nodeHost(self) : await chromiumHost(options.engines, log);
  const results: Partial<Record<EngineName, PageResult>> = {};
  const failures: Partial<Record<EngineName, string>> = {};
  try {
    for (const engine of options.engines) {
      log(`${engine}: loading, then ${options.warmup} warm-up + ${options.runs} runs`);
      const request: PageRequest = { engine, model: models[engine], input, warmup: options.warmup, runs: options.runs, threads, profile: options.profile };
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${options.timeout} s (see --timeout)`)), options.timeout * 1000);
      });
      const abort = new AbortController();
      try {
        const result = await Promise.race([host.run(request, abort.signal), timeout]).finally(() => clearTimeout(timer));
        results[engine] = result;
        log(`${engine}: first result ${ms(result.firstResultMs)}, runs ${result.runsMs.map(ms).join(', ')} (${result.description})`);
      } catch (e) {
        failures[engine] = (e as Error).message.split('\n')[0];
        log(`${engine} FAILED: ${(e as Error).message}`);
      } finally {
        abort.abort();
      }
    }
  } finally {
    await host.close();
  }
  return summarise(options, results, failures, ref.logits.data, torchTop1, classes, threads, host.version());
}

/** Where engines run: each `run` in a fresh browser or process, which is gone once it settles or `signal` aborts. */
interface Host {
  run(request: PageRequest, signal: AbortSignal): Promise<PageResult>;
  /** Chromium's or Node's version, known once an engine has run. */
  version(): string;
  close(): Promise<void>;
}

/** The bench page (page.ts) in a fresh headless Chromium per engine, served by Vite. */
async function chromiumHost(engines: EngineName[], log: (line: string) => void): Promise<Host> {
  const [{ chromium }, { createServer }, { default: playwrightConfig }] = await Promise.all([import('@playwright/test'), import('vite'), import('../playwright.config')]);
  // The repository root over HTTP (the page imports src/ and fetches .cache/), cross-origin isolated
  // so ort-wasm gets threads (SharedArrayBuffer) and every page can measure its memory.
  const server = await createServer({
    configFile: false,
    root: ROOT,
    logLevel: 'warn',
    clearScreen: false,
    cacheDir: 'node_modules/.vite-bench',
    server: {
      host: '127.0.0.1',
      hmr: false,
      watch: null,
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    },
    // Pre-bundled up front so no late discovery reloads a page mid-run; ORT stays as shipped so it finds its .wasm.
    optimizeDeps: { entries: ['bench/page.html'], exclude: ['onnxruntime-web'] },
  });
  await server.listen();
  const pageUrl = new URL('bench/page.html', server.resolvedUrls!.local[0]).href;
  // The Playwright suite's Chromium and flags (system Chromium with SwiftShader, WebGPU enabled).
  const launch = playwrightConfig.projects?.find((p) => p.name === 'chromium')?.use?.launchOptions ?? {};
  const launchBrowser = (): Promise<Browser> => chromium.launch({ ...launch, args: [...(launch.args ?? []), ...EXTRA_FLAGS] });
  let version = '';
  const openPage = async (browser: Browser, errors: string[]): Promise<Page> => {
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pageUrl);
    await page.waitForFunction(() => typeof window.runBench === 'function');
    return page;
  };
  // A page that only imports every engine's code, untimed: after it, the dev server is idle.
  // Without it the engine timed first paid for it (ours' ResNet-50 median: 1036 ms timed first,
  // 954 ms timed after ort-wasm; with it, 1000 ms either way).
  const warm = await launchBrowser();
  try {
    const errors: string[] = [];
    await (await openPage(warm, errors)).evaluate((names) => window.loadEngineCode(names), engines);
    if (errors.length) log(`loading the engines' code: page errors:\n  ${errors.join('\n  ')}`);
  } finally {
    await warm.close();
  }
  return {
    async run(request, signal) {
      const browser = await launchBrowser();
      version = `Chromium ${browser.version()}`;
      signal.addEventListener('abort', () => void browser.close());
      const errors: string[] = [];
      try {
        const page = await openPage(browser, errors);
        return await page.evaluate((r) => window.runBench(r), request);
      } finally {
        await browser.close();
        if (errors.length) log(`${request.engine}: page errors:\n  ${errors.join('\n  ')}`);
      }
    },
    version: () => version,
    close: () => server.close(),
  };
}

/** node-engine.ts in a fresh Node process per engine, started as `node <self> node-engine …`. */
function nodeHost(self: string): Host {
  const dawn = (createRequire(import.meta.url)('webgpu/package.json') as { version: string }).version;
  return {
    async run(request, signal) {
      const dir = mkdtempSync(join(tmpdir(), 'resnet-webgpu-bench-'));
      try {
        const out = join(dir, 'result.json');
        await new Promise<void>((done, fail) => {
          const child = execFile(process.execPath, [self, 'node-engine', '--request', JSON.stringify(request), '--out', out], { signal, maxBuffer: 64 << 20 }, (error, _stdout, stderr) =>
            // node-engine.ts ends its stderr with the error's message.
            error ? fail(new Error(stderr.trim().split('\n').pop() || error.message)) : done(),
          );
          child.stderr?.pipe(process.stderr);
        });
        return JSON.parse(readFileSync(out, 'utf8')) as PageResult;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    version: () => `Node ${process.version}, Dawn (webgpu ${dawn})`,
    close: async () => {},
  };
}

// prettier-ignore
function summarise(options: BenchOptions, results: Partial<Record<EngineName, PageResult>>, failures: BenchReport['failures'], torchLogits: Float32Array, torchTop1: number[], classes: number, threads: number, runtime: string): BenchReport {
  const oursLogits = results.ours && Float32Array.from(results.ours.logits);
  const engines: Partial<Record<EngineName, EngineReport>> = {};
  const disagree: string[] = [];
  for (const [name, r] of Object.entries(results) as [EngineName, PageResult][]) {
    // The first result's logits and the last run's (ours runs untuned first): both must agree; the Δs are the larger of the two.
    const runs = [r.logits, r.lastLogits].map((l) => Float32Array.from(l));
    const top1s = runs.map((l) => argmaxRows(l, classes));
    const maxAbsDiffVsTorch = Math.max(...runs.map((l) => compare(l, torchLogits).maxAbsDiff));
    const maxAbsDiffVsOurs = oursLogits && Math.max(...runs.map((l) => compare(l, oursLogits).maxAbsDiff));
    for (const [i, which] of ['first result', 'last run'].entries()) {
      if (top1s[i].join() !== torchTop1.join()) disagree.push(`${name} (${which}): top-1 [${top1s[i]}] vs PyTorch [${torchTop1}] (max|Δ| vs PyTorch ${compare(runs[i], torchLogits).maxAbsDiff.toPrecision(3)})`);
    }
    engines[name] = {
      description: r.description,
      firstResultMs: r.firstResultMs,
      secondResultMs: [...r.warmupMs, ...r.runsMs][0],
      medianMs: median(r.runsMs),
      minMs: Math.min(...r.runsMs),
      maxMs: Math.max(...r.runsMs),
      runsMs: r.runsMs,
      peakMemoryBytes: r.memory.bytes,
      peakMemoryMeasure: r.memory.measure,
      inferencePeakBytes: r.memory.inferenceBytes,
      memoryBreakdown: r.memory.breakdown,
      gpuBufferPeakBytes: r.gpuBufferPeakBytes,
      pageMemoryBytes: r.pageMemoryBytes,
      top1: top1s[0],
      maxAbsDiffVsTorch,
      maxAbsDiffVsOurs,
    };
  }
  // Times of engines that compute something else are meaningless: refuse to report them.
  if (disagree.length) throw new Error(`engines disagree on the top-1 class:\n  ${disagree.join('\n  ')}`);
  const ours = engines.ours;
  if (ours) {
    for (const e of Object.values(engines).filter((e) => e !== ours)) {
      e.oursOver = { firstResult: ours.firstResultMs / e.firstResultMs, median: ours.medianMs / e.medianMs, peakMemory: ours.peakMemoryBytes / e.peakMemoryBytes };
    }
  }
  const adapter = Object.values(results)[0]?.adapter ?? 'n/a';
  return { options, adapter, runtime, threads, torchTop1, engines, failures, profile: results.ours?.profile, kernels: results.ours?.kernels };
}

const ms = (x: number): string => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x < 100 ? 1 : 0)} ms`);
const mib = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : 'n/a');
const ratio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`);

/** The report as Markdown: the engines table, then what each memory figure measures, then the profile. */
export function formatReport(report: BenchReport): string {
  const { options: o } = report;
  const lines = [
    `## ${o.model}, batch ${o.batch}, ${o.size}×${o.size}: ${o.warmup} warm-up + ${o.runs} runs per engine`,
    '',
    `${report.runtime}, adapter: ${report.adapter}; ${report.threads} CPU threads for ort-wasm. Top-1 per image agrees with PyTorch for every engine that ran: [${report.torchTop1}].`,
    '',
    '| engine | first result | second | median | min | max | peak memory | ours/peer first | ours/peer median | ours/peer memory | max abs Δ vs ours | max abs Δ vs PyTorch |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const entries = Object.entries(report.engines) as [EngineName, EngineReport][];
  for (const [name, e] of entries) {
    const r = e.oursOver;
    // prettier-ignore
    lines.push(`| ${name} | ${ms(e.firstResultMs)} | ${ms(e.secondResultMs)} | ${ms(e.medianMs)} | ${ms(e.minMs)} | ${ms(e.maxMs)} | ${mib(e.peakMemoryBytes)} | ${ratio(r?.firstResult)} | ${ratio(r?.median)} | ${ratio(r?.peakMemory)} | ${e.maxAbsDiffVsOurs?.toExponential(1) ?? '–'} | ${e.maxAbsDiffVsTorch.toExponential(1)} |`);
  }
  for (const [name, message] of Object.entries(report.failures)) lines.push(`| ${name} | failed: ${message.replaceAll('|', '/')} |`);
  lines.push('', 'Engines and what "peak memory" measures:');
  for (const [name, e] of entries) {
    const page = e.pageMemoryBytes === undefined ? '' : `, page memory after runs ${mib(e.pageMemoryBytes)}`;
    lines.push(`- ${name}: ${e.description}. Memory: ${e.peakMemoryMeasure} (GPU-buffer hook: ${mib(e.gpuBufferPeakBytes)}${page})`);
  }
  const ours = report.engines.ours;
  const parts = ours?.memoryBreakdown;
  const peak = ours?.inferencePeakBytes;
  if (ours && parts && peak !== undefined) {
    const bound = parts.weightBytes + parts.largestLivePairBytes;
    // prettier-ignore
    lines.push('', `ours, memory: an inference's peak (the last run's high-water mark) ${mib(peak)} = weights ${mib(parts.weightBytes)} (parameters as float32: ${mib(parts.parameterBytes)}; the rest is padding and Winograd's transformed weights) + activation buffers ${mib(parts.activationBytes)} (${parts.activationBuffers} buffers; one per tensor would be ${mib(parts.unplannedActivationBytes)}) + uniforms, input upload and read-back ${mib(peak - parts.weightBytes - parts.activationBytes)}. Bound, weights + the two largest simultaneously live activations (${mib(parts.largestLivePairBytes)}): ${mib(bound)}, ${peak <= bound ? 'met' : `exceeded by ${mib(peak - bound)}`}. All activations live at the fullest step: ${mib(parts.largestLiveBytes)} (no plan of these steps in this order holds less). The table's figure is the engine's whole high-water mark, load and tuning included.`);
  }
  if (report.kernels) lines.push('', ...formatKernels(report.kernels));
  if (report.profile) lines.push('', ...formatProfile(report.profile));
  return lines.join('\n');
}

/** Which conv variant the autotune picked, in how many layers, and the shapes it measured with each candidate's time. */
function formatKernels(choices: KernelChoices): string[] {
  const { layers } = choices;
  // One row per shape measured (layers of one shape share the measurement).
  const byShape = new Map<string, Tuning>();
  for (const t of layers) if (t.from === 'measured' && !byShape.has(t.shape)) byShape.set(t.shape, t);
  const measured = [...byShape.values()];
  const variants = [...new Set(measured.flatMap((t) => Object.keys(t.ms)))];
  return [
    `ours, autotune (after the first result, which runs untuned; its time, compiling included, falls in the next run: by default the warm-up): ${describeKernelChoices(choices)}.`,
    ...(measured.length
      ? ['', `| first layer | shape | picked | ${variants.map((v) => `${v} ms`).join(' | ')} |`, `| --- | --- | --- | ${variants.map(() => '---:').join(' | ')} |`, ...measured.map((t) => `| ${t.label} | ${t.shape} | ${t.variant} | ${variants.map((v) => t.ms[v]?.toFixed(3) ?? '–').join(' | ')} |`)]
      : []),
  ];
}

function formatProfile(steps: StepTiming[]): string[] {
  if (!steps.length) return ['ours: no profile (the adapter has no timestamp-query)'];
  const totalMs = steps.reduce((s, t) => s + t.ms, 0);
  const totalFlops = steps.reduce((s, t) => s + t.flops, 0);
  const row = (t: StepTiming, i: number) => `| ${i} | ${t.label} | ${t.kernel} | ${t.ms.toFixed(3)} | ${(t.flops / 1e9).toFixed(3)} | ${t.gflops.toFixed(1)} |`;
  const head = ['| # | step | kernel | GPU ms | GFLOP | GFLOP/s |', '| ---: | --- | --- | ---: | ---: | ---: |'];
  const slowest = steps.map((t, i) => [t, i] as const).sort((a, b) => b[0].ms - a[0].ms).slice(0, 10);
  return [
    `### ours: GPU time per step (timestamp queries, one pass per step): ${totalMs.toFixed(1)} ms, ${(totalFlops / 1e9).toFixed(2)} GFLOP, ${(totalFlops / totalMs / 1e6).toFixed(1)} GFLOP/s overall`,
    '',
    ...head,
    ...steps.map(row),
    '',
    '### ours: slowest 10 steps',
    '',
    ...head,
    ...slowest.map(([t, i]) => row(t, i)),
  ];
}

const USAGE = `Usage: npm run bench -- [options]
  --model resnet18|resnet50   (default ${DEFAULTS.model})
  --engines a,b,…             of ${ENGINES.join(', ')} (default all)
  --runs N                    timed runs after the warm-ups (default ${DEFAULTS.runs})
  --warmup W                  untimed runs after the first result (default ${DEFAULTS.warmup})
  --batch B                   images per run (default ${DEFAULTS.batch})
  --size S                    input height and width (default ${DEFAULTS.size})
  --profile                   also print ours' GPU time and GFLOP/s per step
  --timeout S                 seconds one engine may take before it counts as failed (default ${DEFAULTS.timeout})
  --runtime chromium|node     each engine in a fresh headless Chromium, or in a fresh Node process on
                              Dawn (the webgpu package: a machine's GPU without a browser) (default ${DEFAULTS.runtime})
  --json FILE                 write the report as JSON`;

/** Command-line entry (`npm run bench`, `resnet-webgpu bench`): returns the exit code. `self` is the script that runs it, which --runtime node starts again per engine. */
export async function main(argv: string[], self: string): Promise<number> {
  let options: BenchOptions;
  let json: string | undefined;
  try {
    const { values: v } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        engines: { type: 'string' },
        runs: { type: 'string' },
        warmup: { type: 'string' },
        batch: { type: 'string' },
        size: { type: 'string' },
        profile: { type: 'boolean' },
        json: { type: 'string' },
        timeout: { type: 'string' },
        runtime: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (v.help) {
      console.log(USAGE);
      return 0;
    }
    const count = (flag: string, value: string | undefined, fallback: number, min: number): number => {
      const n = value === undefined ? fallback : Number(value);
      if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be an integer ≥ ${min}, got ${value}`);
      return n;
    };
    const model = v.model ?? DEFAULTS.model;
    if (model !== 'resnet18' && model !== 'resnet50') throw new Error(`--model must be resnet18 or resnet50, got ${model}`);
    const engines = v.engines ? v.engines.split(',').map((e) => e.trim()) : DEFAULTS.engines;
    const unknown = engines.filter((e) => !(ENGINES as readonly string[]).includes(e));
    if (unknown.length || !engines.length) throw new Error(`--engines takes a comma-separated list of ${ENGINES.join(', ')}; got ${v.engines}`);
    const runtime = v.runtime ?? DEFAULTS.runtime;
    if (runtime !== 'chromium' && runtime !== 'node') throw new Error(`--runtime must be chromium or node, got ${runtime}`);
    options = {
      runtime,
      model,
      engines: [...new Set(engines as EngineName[])],
      runs: count('runs', v.runs, DEFAULTS.runs, 1),
      warmup: count('warmup', v.warmup, DEFAULTS.warmup, 0),
      batch: count('batch', v.batch, DEFAULTS.batch, 1),
      size: count('size', v.size, DEFAULTS.size, 32),
      profile: v.profile ?? false,
      timeout: count('timeout', v.timeout, DEFAULTS.timeout, 1),
    };
    json = v.json;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  try {
    const report = await runBench(options, console.error, self);
    console.log(formatReport(report));
    if (json) writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
    return Object.keys(report.failures).length ? 1 : 0;
  } catch (e) {
    console.error(`bench failed: ${(e as Error).message}`);
    return 1;
  }
}
