// `npm run bench:ceiling`: the adapter's arithmetic ceiling, for judging the conv kernel's GFLOP/s.
// One dispatch of invocations that each keep ROWS×COLS vec4 accumulators and run fma() in a loop
// on registers only ("registers"), or on one storage load per row per step ("with loads", the
// conv kernel's shape), for several accumulator layouts: on a CPU adapter the accumulators past
// the CPU's vector registers live in memory, so the layout bounds what arithmetic can reach (the
// conv kernels keep 64 vec4 per invocation). No conv can beat the best registers-only figure on
// this adapter; ResNet-50's FLOPs over it are the floor for one inference.
import { parseArgs } from 'node:util';
import { createNodeGpu, describeAdapter } from '../src/node';

// [rows, cols] of vec4 accumulators per invocation; each row is one loaded vec4 per step.
const LAYOUTS: [number, number][] = [
  [2, 2],
  [4, 4],
  [2, 8],
  [8, 8],
  [16, 4],
];
const UNROLL = 4;
const FMA_PER_INVOCATION = 32_000; // vec4 fma, the same work for every layout
const WORKGROUPS = 64;
const RESNET50_GFLOP = 8.18; // 2 × 4.09 G multiply-adds at 224×224

function shader(rows: number, cols: number, steps: number, loads: boolean): string {
  const body: string[] = [];
  for (let u = 0; u < UNROLL; u++) {
    for (let r = 0; r < rows; r++) {
      const x = loads ? `src[(k * ${rows * UNROLL}u + ${u * rows + r}u) & 63u]` : `x${r}`;
      body.push(`    let v${u}_${r} = ${x};`);
      for (let c = 0; c < cols; c++) body.push(`    a${r}_${c} = fma(w${c}, v${u}_${r}, a${r}_${c});`);
      if (!loads) body.push(`    x${r} += d;`);
    }
  }
  const each = (f: (r: number, c: number) => string) => Array.from({ length: rows * cols }, (_, i) => f(Math.floor(i / cols), i % cols)).join('\n');
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4f, 64>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
${Array.from({ length: rows }, (_, r) => `  var x${r} = src[(gid.x + ${r}u) % 64u];`).join('\n')}
${Array.from({ length: cols }, (_, c) => `  let w${c} = src[(gid.x + ${c + 7}u) % 64u];`).join('\n')}
  let d = src[gid.x % 64u] * 1e-7;
${each((r, c) => `  var a${r}_${c} = vec4f(0.0);`)}
  for (var k = 0u; k < ${steps}u; k += ${UNROLL}u) {
${body.join('\n')}
  }
  var s = vec4f(0.0);
${each((r, c) => `  s += a${r}_${c};`)}
  dst[gid.x] = s;
}`;
}

/** Median ms of one dispatch of WORKGROUPS groups of `code`, over `runs` runs after one to warm up. */
async function medianMs(device: GPUDevice, code: string, buffers: GPUBuffer[], runs: number): Promise<number> {
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const start = performance.now();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(WORKGROUPS);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i > 0) times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: 'string', default: '5' } } });
  const gpu = await createNodeGpu();
  const { device } = gpu;
  const src = device.createBuffer({ size: 64 * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(src, 0, Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)));
  const dst = device.createBuffer({ size: WORKGROUPS * 64 * 16, usage: GPUBufferUsage.STORAGE });
  console.log(`Adapter: ${describeAdapter(gpu.adapter)}. fma on vec4, ${WORKGROUPS * 64} invocations of ${FMA_PER_INVOCATION} fma each, median of ${values.runs} runs.`);
  console.log('| vec4 accumulators per invocation | loop body | GFLOP/s | ResNet-50 224×224 at this rate |\n| --- | --- | ---: | ---: |');
  for (const [rows, cols] of LAYOUTS) {
    const steps = Math.round(FMA_PER_INVOCATION / (rows * cols) / UNROLL) * UNROLL;
    const flops = WORKGROUPS * 64 * steps * rows * cols * 4 * 2;
    for (const loads of [false, true]) {
      const ms = await medianMs(device, shader(rows, cols, steps, loads), [src, dst], Number(values.runs));
      const gflops = flops / ms / 1e6;
      const body = loads ? `registers + ${rows} vec4 loads per ${rows * cols} fma` : 'registers only';
      console.log(`| ${rows}×${cols} | ${body} | ${gflops.toFixed(1)} | ${((RESNET50_GFLOP / gflops) * 1000).toFixed(0)} ms |`);
    }
  }
  device.destroy();
  return 0;
}
