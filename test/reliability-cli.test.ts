// Bad input files: the .npy reader names each defect with an InputError, and the built CLI turns
// each (and NaN inputs) into one line on stderr and exit status 1; tiny images still classify.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readNpy, writeNpy } from '../src/cli/npy';
import { InputError, writeShards } from '../src/node';
import { ROOT } from './fixtures';
import { randomInput, smallModel } from './small-model';

/** A .npy file with `header` as its dict, after a version `major` preamble, then `data` bytes. */
function npy(header: string, data: Uint8Array, major = 1): Uint8Array {
  const text = new TextEncoder().encode(`${header}\n`);
  const pre = major === 1 ? 10 : 12;
  const out = new Uint8Array(pre + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, pre);
  out.set(data, pre + text.length);
  return out;
}

const header = (descr: string, shape: string, fortran = 'False'): string => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

describe('readNpy', () => {
  const good = writeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);

  test.each<[string, Uint8Array, string]>([
    ['a text file', new TextEncoder().encode('{"not": "npy"}'), 'x.npy: not a .npy file (no \\x93NUMPY magic)'],
    ['an empty file', new Uint8Array(0), 'x.npy: not a .npy file (no \\x93NUMPY magic)'],
    ['the magic alone', good.subarray(0, 8), 'x.npy: not a .npy file (no \\x93NUMPY magic)'],
    ['format version 4', Uint8Array.from([...good.subarray(0, 6), 4, 0, ...good.subarray(8)]), 'x.npy: .npy format version 4.0 is not supported (1.0, 2.0 and 3.0 are)'],
    ['a version 2 file cut in its preamble', Uint8Array.from([...good.subarray(0, 6), 2, 0, 1, 0]), 'x.npy: .npy file ends inside its preamble (10 bytes)'],
    ['a header cut short', good.subarray(0, 40), 'x.npy: .npy header of 118 bytes runs past the end of the file (40 bytes)'],
    ['a header with no shape', npy("{'descr': '<f4', 'fortran_order': False}", new Uint8Array(0)), 'x.npy: unreadable .npy header "{\'descr\': \'<f4\', \'fortran_order\': False}"'],
    ['float64', npy(header('<f8', '(2,)'), new Uint8Array(16)), "x.npy: dtype <f8 is not float32 ('<f4'); save the array with .astype('<f4')"],
    ['big-endian float32', npy(header('>f4', '(2,)'), new Uint8Array(8)), "x.npy: dtype >f4 is not float32 ('<f4'); save the array with .astype('<f4')"],
    ['Fortran order', npy(header('<f4', '(2, 2)', 'True'), new Uint8Array(16)), 'x.npy: Fortran-ordered arrays are not supported; save a C-contiguous array'],
    ['a negative size', npy(header('<f4', '(2, -3)'), new Uint8Array(0)), 'x.npy: .npy shape (2, -3) is not a tuple of sizes'],
    ['a symbolic size', npy(header('<f4', '(n, 3)'), new Uint8Array(0)), 'x.npy: .npy shape (n, 3) is not a tuple of sizes'],
    ['an empty part', npy(header('<f4', '(2,, 3)'), new Uint8Array(0)), 'x.npy: .npy shape (2,, 3) is not a tuple of sizes'],
    ['truncated data', good.subarray(0, good.length - 1), 'x.npy: shape [2,3] needs 24 data bytes, the file has 23'],
    ['a shape of 10^17 values', npy(header('<f4', '(100000, 100000, 10000, 1000)'), new Uint8Array(8)), 'x.npy: shape [100000,100000,10000,1000] needs 400000000000000000 data bytes, the file has 8'],
  ])('%s is an InputError', (_, bytes, message) => {
    let error: unknown;
    try {
      readNpy(bytes, 'x.npy');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe(message);
  });

  test('versions 1, 2 and 3, a 1-D shape and a scalar read back', () => {
    const data = Float32Array.from([1.5, -2, 3]);
    const bytes = new Uint8Array(data.buffer);
    expect(readNpy(good, 'x.npy')).toEqual({ data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] });
    expect(readNpy(npy(header('<f4', '(3,)'), bytes, 2), 'x.npy')).toEqual({ data, shape: [3] });
    expect(readNpy(npy(header('<f4', '(1, 3)'), bytes, 3), 'x.npy')).toEqual({ data, shape: [1, 3] });
    expect(readNpy(npy(header('<f4', '()'), bytes.subarray(0, 4)), 'x.npy')).toEqual({ data: data.subarray(0, 1), shape: [] });
  });
});

describe('the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnet-reliability-cli-'));
  const model = join(dir, 'model', 'model.json');
  const BIN = join(ROOT, 'bin', 'resnet-webgpu.js');

  beforeAll(async () => {
    // As test/cli.test.ts: the CLI runs from dist/, rebuilt when a source is newer.
    const cli = join(ROOT, 'dist', 'cli.js');
    const sources = ['package.json', 'vite.config.ts', ...readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).map((f) => join('src', f))];
    if (!existsSync(cli) || sources.some((f) => statSync(join(ROOT, f)).mtimeMs > statSync(cli).mtimeMs)) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
    const { index, files } = await writeShards(smallModel());
    execFileSync('mkdir', ['-p', join(dir, 'model')]);
    for (const [name, bytes] of files) writeFileSync(join(dir, 'model', name), bytes);
    writeFileSync(model, JSON.stringify(index));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  const file = (name: string, bytes: Uint8Array): string => {
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };

  test('bad .npy inputs and NaN values: one line on stderr, exit 1, no stack trace', () => {
    const shape = [1, 3, 8, 8];
    const nan = randomInput(shape, 1);
    nan[2 * 64 + 3 * 8 + 5] = NaN;
    const cases: [string, RegExp][] = [
      [file('text.npy', new TextEncoder().encode('1,2,3\n')), /text\.npy: not a \.npy file \(no \\x93NUMPY magic\)$/],
      [file('cut.npy', writeNpy(randomInput(shape, 1), shape).subarray(0, 200)), /cut\.npy: shape \[1,3,8,8\] needs 768 data bytes, the file has 72$/],
      [file('f64.npy', npy(header('<f8', '(1, 3, 8, 8)'), new Uint8Array(8 * 192))), /f64\.npy: dtype <f8 is not float32/],
      [file('nan.npy', writeNpy(nan, shape)), /^resnet-webgpu: input\[0, 2, 3, 5\] \(flat index 157\) is NaN: inputs must be finite numbers$/],
    ];
    for (const [input, message] of cases) {
      const r = cli('infer', '-m', model, '-i', input, '-o', join(dir, 'out.npy'));
      expect(r.status, input).toBe(1);
      expect(r.stdout).toBe('');
      const ours = r.stderr.split('\n').filter((line) => line.startsWith('resnet-webgpu:'));
      expect(ours).toHaveLength(1);
      expect(ours[0]).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at .*\.js:\d+:\d+\)?$/m);
    }
    expect(existsSync(join(dir, 'out.npy'))).toBe(false);
  });

  test('no Vulkan driver: one line naming what Dawn needs in Node, exit 1', () => {
    const icd = join(dir, 'no-such-icd.json');
    const r = spawnSync(process.execPath, [BIN, 'info', '-m', model], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, VK_ICD_FILENAMES: icd } });
    expect(r.status, r.stderr).toBe(1);
    const ours = r.stderr.split('\n').filter((line) => line.startsWith('resnet-webgpu:'));
    expect(ours).toEqual([
      `resnet-webgpu: WebGPU is present but returned no adapter: there is no usable GPU, and no fallback adapter was offered. Dawn in Node needs the Vulkan loader (libvulkan.so.1; Debian: apt-get install libvulkan1) and the driver VK_ICD_FILENAMES names (${icd}).`,
    ]);
  });

  test("without a Vulkan driver installed, the CLI goes to SwiftShader without the Vulkan loader's warnings", () => {
    const env = { ...process.env };
    for (const v of ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES']) delete env[v];
    const png = new PNG({ width: 2, height: 2 });
    const r = spawnSync(process.execPath, [BIN, 'classify', '-m', model, file('two.png', PNG.sync.write(png))], { cwd: dir, encoding: 'utf8', timeout: 120_000, env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/vkCreateInstance|Found no drivers/);
  });

  test('a 1×1 image classifies', () => {
    const png = new PNG({ width: 1, height: 1 });
    png.data.set([12, 200, 90, 255]);
    const r = cli('classify', '-m', model, '--json', file('dot.png', PNG.sync.write(png)));
    expect(r.status, r.stderr).toBe(0);
    const [result] = JSON.parse(r.stdout) as { top: { probability: number }[] }[];
    expect(result.top).toHaveLength(5);
    expect(result.top.every((t) => t.probability >= 0 && t.probability <= 1)).toBe(true);
  });
});
