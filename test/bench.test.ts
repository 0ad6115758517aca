// `npm run bench` as a user runs it, at a small input size so that every engine finishes in about
// a minute here: it must print the table and write the JSON #5 specifies, with every engine
// agreeing with PyTorch. Its timings are not asserted (the bench exists to measure them).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import type { BenchReport } from '../bench/bench';
import { ENGINES } from '../bench/engine';
import { argmaxRows, ROOT, torchReference } from './fixtures';

const dir = mkdtempSync(join(tmpdir(), 'resnet-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 64;

function bench(args: string[]): { status: number | null; stdout: string; stderr: string; report?: BenchReport } {
  const json = join(dir, `${args.join('_').replace(/\W+/g, '_')}.json`);
  const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'run.mjs'), ...args, '--json', json], { cwd: ROOT, encoding: 'utf8', timeout: 540_000 });
  let report: BenchReport | undefined;
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
  } catch {
    report = undefined;
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, report };
}

/** The report's figures: the JSON shape #5 asks for, every engine agreeing with PyTorch within the suite's tolerance. */
function checkReport(report: BenchReport, engines: readonly string[], runs: number): void {
  const torch = torchReference({ arch: 'resnet18', classes: 1000, batch: 1, height: SIZE, width: SIZE }).logits;
  const tolerance = 1e-3 * Math.max(...torch.data.map(Math.abs));
  expect(report.failures).toEqual({});
  expect(report.torchTop1).toEqual(argmaxRows(torch.data, 1000));
  expect(Object.keys(report.engines).sort()).toEqual([...engines].sort());
  for (const [name, e] of Object.entries(report.engines)) {
    for (const key of ['firstResultMs', 'medianMs', 'minMs', 'maxMs', 'peakMemoryBytes'] as const) {
      expect(Number.isFinite(e[key]) && e[key] > 0, `${name}.${key} = ${e[key]}`).toBe(true);
    }
    expect(e.runsMs).toHaveLength(runs);
    expect(e.minMs).toBeLessThanOrEqual(e.medianMs);
    expect(e.medianMs).toBeLessThanOrEqual(e.maxMs);
    expect(e.top1, name).toEqual(report.torchTop1);
    expect(e.maxAbsDiffVsTorch, name).toBeLessThanOrEqual(tolerance);
  }
  const ours = report.engines.ours!;
  for (const [name, e] of Object.entries(report.engines).filter(([name]) => name !== 'ours')) {
    expect(e.oursOver, name).toEqual({ firstResult: ours.firstResultMs / e.firstResultMs, median: ours.medianMs / e.medianMs, peakMemory: ours.peakMemoryBytes / e.peakMemoryBytes });
  }
  // An inference's peak holds the weights and the planned activations, and no more than the page ever held.
  const parts = ours.memoryBreakdown!;
  expect(ours.inferencePeakBytes).toBeGreaterThanOrEqual(parts.weightBytes + parts.activationBytes);
  expect(ours.inferencePeakBytes).toBeLessThanOrEqual(ours.peakMemoryBytes);
  // The autotune measured after the first result: its picks are reported.
  expect(report.kernels!.layers.length).toBeGreaterThan(0);
}

test('in Chromium: all four engines, the table, the JSON and the per-layer profile', () => {
  const { status, stdout, stderr, report } = bench(['--model', 'resnet18', '--size', String(SIZE), '--runs', '2', '--warmup', '1', '--profile']);
  expect(status, stderr).toBe(0);
  checkReport(report!, ENGINES, 2);
  const rows = stdout.split('\n').filter((line) => line.startsWith('| '));
  for (const name of ENGINES) expect(rows.some((row) => row.startsWith(`| ${name} |`)), name).toBe(true);
  // The peers' rows carry ours ÷ peer for first result, median and memory.
  for (const name of ENGINES.filter((n) => n !== 'ours')) expect(rows.find((row) => row.startsWith(`| ${name} |`))!.match(/\d+\.\d+×/g)).toHaveLength(3);
  // Timestamp queries (SwiftShader has them): every pass timed, with GFLOP/s for the convs.
  const profile = report!.profile!;
  expect(profile.length).toBeGreaterThan(20);
  expect(profile.every((s) => Number.isFinite(s.ms) && s.ms >= 0)).toBe(true);
  expect(profile.reduce((sum, s) => sum + s.ms, 0)).toBeGreaterThan(0);
  expect(profile.filter((s) => s.kernel.startsWith('conv2d')).every((s) => s.flops > 0)).toBe(true);
  expect(stdout).toMatch(/GPU time per step \(timestamp queries, one pass per step\): [\d.]+ ms, [\d.]+ GFLOP, [\d.]+ GFLOP\/s overall/);
  expect(stdout).toContain("ours, memory: an inference's peak");
});

test('in Node (--runtime node): ours and ort-wasm, each in a fresh process', () => {
  const { status, stderr, report } = bench(['--runtime', 'node', '--model', 'resnet18', '--size', String(SIZE), '--runs', '2', '--warmup', '1', '--engines', 'ours,ort-wasm']);
  expect(status, stderr).toBe(0);
  checkReport(report!, ['ours', 'ort-wasm'], 2);
  expect(report!.runtime).toMatch(/^Node v\d+/);
});

test('a bad flag is refused with the usage, before anything runs', () => {
  const { status, stderr, report } = bench(['--model', 'resnet99']);
  expect(status).toBe(2);
  expect(stderr).toContain('--model must be resnet18 or resnet50, got resnet99');
  expect(report).toBeUndefined();
});
