// `npm run bench:ceiling`: the adapter's arithmetic ceiling, for judging the conv kernel's GFLOP/s.
// One dispatch of invocations that each keep ROWS×COLS vec4 accumulators and run fma() in a loop
// on registers only ("registers"), or on one storage load per row per step ("with loads", the
// conv kernel's shape). No conv can beat the first figure on this adapter; ResNet-50's FLOPs over
// it are the floor for one inference.
import { parseArgs } from 'node:util';
import { createNodeGpu, describeAdapter } from '../src/node';

const ROWS = 4;
const COLS = 4;
const UNROLL = 4;
const STEPS = 2000;
const WORKGROUPS = 64;
const RESNET50_GFLOP = 8.18; // 2 × 4.09 G multiply-adds at 224×224

function shader(loads: boolean): string {
  const body: string[] = [];
  for (let u = 0; u < UNROLL; u++) {
    for (let r = 0; r < ROWS; r++) {
      const x = loads ? `src[(k * ${ROWS * UNROLL}u + ${u * ROWS + r}u) & 63u]` : `x${r}`;
      body.push(`    let v${u}_${r} = ${x};`);
      for (let c = 0; c < COLS; c++) body.push(`    a${r}_${c} = fma(w${c}, v${u}_${r}, a${r}_${c});`);
      if (!loads) body.push(`    x${r} += d;`);
    }
  }
  const each = (f: (r: number, c: number) => string) => Array.from({ length: ROWS * COLS }, (_, i) => f(Math.floor(i / COLS), i % COLS)).join('\n');
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4f, 64>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
${Array.from({ length: ROWS }, (_, r) => `  var x${r} = src[(gid.x + ${r}u) % 64u];`).join('\n')}
${Array.from({ length: COLS }, (_, c) => `  let w${c} = src[(gid.x + ${c + 7}u) % 64u];`).join('\n')}
  let d = src[gid.x % 64u] * 1e-7;
${each((r, c) => `  var a${r}_${c} = vec4f(0.0);`)}
  for (var k = 0u; k < ${STEPS}u; k += ${UNROLL}u) {
${body.join('\n')}
  }
  var s = vec4f(0.0);
${each((r, c) => `  s += a${r}_${c};`)}
  dst[gid.x] = s;
}`;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: 'string', default: '5' } } });
  const gpu = await createNodeGpu();
  const { device } = gpu;
  const src = device.createBuffer({ size: 64 * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(src, 0, Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)));
  const dst = device.createBuffer({ size: WORKGROUPS * 64 * 16, usage: GPUBufferUsage.STORAGE });
  const flops = WORKGROUPS * 64 * STEPS * ROWS * COLS * 4 * 2;
  console.log(`Adapter: ${describeAdapter(gpu.adapter)}. ${ROWS}×${COLS} vec4 accumulators per invocation, fma, ${WORKGROUPS * 64} invocations, median of ${values.runs} runs.`);
  console.log('| loop body | GFLOP/s | ResNet-50 224×224 at this rate |\n| --- | ---: | ---: |');
  for (const loads of [false, true]) {
    const module = device.createShaderModule({ code: shader(loads) });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [src, dst].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const times: number[] = [];
    for (let i = 0; i < Number(values.runs) + 1; i++) {
      const start = performance.now();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(WORKGROUPS);
      pass.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (i > 0) times.push(performance.now() - start); // the first run warms up
    }
    const ms = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
    const gflops = flops / ms / 1e6;
    console.log(`| ${loads ? `fma on registers + ${ROWS} vec4 loads per ${ROWS * COLS} fma` : 'fma on registers only'} | ${gflops.toFixed(1)} | ${((RESNET50_GFLOP / gflops) * 1000).toFixed(0)} ms |`);
  }
  device.destroy();
  return 0;
}
