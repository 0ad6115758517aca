// TensorFlow.js on its WebGPU backend, the ResNet built from tf ops. Weights come from
// tfjs.safetensors (bench/export_peers.py): BatchNorm folded, convs HWIO, as the TF.js converter
// would ship them; names are torchvision's, and the block structure is read from them.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { LoadEngine } from '../engine';

type Weights = Map<string, tf.Tensor>;

async function fetchWeights(url: string): Promise<Weights> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  const headerBytes = Number(new DataView(bytes).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(bytes, 8, headerBytes))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const weights: Weights = new Map();
  for (const [name, { dtype, shape, data_offsets: [begin, end] }] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (dtype !== 'F32') throw new Error(`${url}: ${name} is ${dtype}, expected F32`);
    weights.set(name, tf.tensor(new Float32Array(bytes.slice(8 + headerBytes + begin, 8 + headerBytes + end)), shape));
  }
  return weights;
}

/** torchvision's ResNet forward pass (v1.5: bottlenecks stride in the 3×3) on NCHW input. */
function forward(w: Weights, input: tf.Tensor4D): tf.Tensor {
  const get = (name: string): tf.Tensor => w.get(name) ?? (() => { throw new Error(`tfjs weights: ${name} missing`); })();
  // Symmetric padding (k−1)/2 as PyTorch pads; TF's 'same' would pad stride-2 convs asymmetrically.
  const conv = (x: tf.Tensor4D, name: string, stride: number, relu: boolean): tf.Tensor4D => {
    const filter = get(`${name}.weight`) as tf.Tensor4D;
    const pad = (filter.shape[0] - 1) / 2;
    return tf.fused.conv2d({ x, filter, bias: get(`${name}.bias`), strides: stride, pad, activation: relu ? 'relu' : 'linear' });
  };
  return tf.tidy(() => {
    let x = conv(tf.transpose(input, [0, 2, 3, 1]), 'conv1', 2, true);
    x = tf.maxPool(x, 3, 2, 1);
    for (let layer = 1; layer <= 4; layer++) {
      for (let block = 0; w.has(`layer${layer}.${block}.conv1.weight`); block++) {
        const p = `layer${layer}.${block}`;
        const stride = layer > 1 && block === 0 ? 2 : 1;
        const identity = w.has(`${p}.downsample.0.weight`) ? conv(x, `${p}.downsample.0`, stride, false) : x;
        const y = w.has(`${p}.conv3.weight`)
          ? conv(conv(conv(x, `${p}.conv1`, 1, true), `${p}.conv2`, stride, true), `${p}.conv3`, 1, false)
          : conv(conv(x, `${p}.conv1`, stride, true), `${p}.conv2`, 1, false);
        x = tf.relu(tf.add(y, identity));
      }
    }
    return tf.fused.matMul({ a: tf.mean(x, [1, 2]) as tf.Tensor2D, b: get('fc.weight') as tf.Tensor2D, bias: get('fc.bias') });
  });
}

export const load: LoadEngine = async ({ model: url, input, shape }) => {
  if (!(await tf.setBackend('webgpu'))) throw new Error('TF.js: the webgpu backend failed to initialise');
  const weights = await fetchWeights(url);
  const backend = tf.backend() as WebGPUBackend;
  let peak = 0;
  return {
    description: `TensorFlow.js ${tf.version_core}, webgpu backend`,
    run: async () => {
      // The input goes up each run, as it does for the other engines.
      const x = tf.tensor4d(input, shape as [number, number, number, number]);
      const logits = forward(weights, x);
      const data = (await logits.data()) as Float32Array;
      tf.dispose([x, logits]);
      peak = Math.max(peak, backend.memory().numBytesAllocatedInGPU);
      return data;
    },
    // Its buffer manager keeps released buffers for reuse, so the allocated total is its high-water mark.
    memory: () => ({ bytes: peak, measure: 'GPU buffers, tf.memory().numBytesAllocatedInGPU (pool high-water)' }),
    dispose: () => tf.dispose([...weights.values()]),
  };
};
