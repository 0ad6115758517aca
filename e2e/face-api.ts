// Test page script: runs face-api's own FaceRecognitionNet (its bundled TF.js, CPU backend) and our
// engine on the same weights (face-api's TF.js manifest, read by our loader) and the same crops.
import { createGpu, describeAdapter, loadModel } from '../src/index';
import { readNpy } from '../src/cli/npy';

export interface FaceApiRequest {
  /** URL of the folder holding face_recognition_model-weights_manifest.json and its shard. */
  modelDir: string;
  /** URL of a [N, 150, 150, 3] float32 .npy of RGB values 0..255. */
  images: string;
}

export interface FaceApiResult {
  /** [N][128] from face-api's computeFaceDescriptor, and from our engine. */
  faceApi: number[][];
  ours: number[][];
  tfBackend: string;
  adapter: string;
}

declare global {
  interface Window {
    runFaceApi(request: FaceApiRequest): Promise<FaceApiResult>;
  }
}

interface FaceApi {
  tf: {
    setBackend(name: string): Promise<boolean>;
    ready(): Promise<void>;
    getBackend(): string;
    tensor3d(values: Float32Array, shape: [number, number, number]): { dispose(): void };
  };
  FaceRecognitionNet: new () => { loadFromUri(uri: string): Promise<void>; computeFaceDescriptor(input: unknown): Promise<Float32Array> };
}

const MEAN_RGB = [122.782, 117.001, 104.298];

window.runFaceApi = async ({ modelDir, images: imagesUrl }) => {
  const response = await fetch(imagesUrl);
  const images = readNpy(new Uint8Array(await response.arrayBuffer()), imagesUrl);
  const [n, h, w] = images.shape;

  // Served as-is from node_modules: the bundle carries its own TF.js.
  const bundle = '/node_modules/@vladmandic/face-api/dist/face-api.esm.js';
  const faceapi = (await import(/* @vite-ignore */ bundle)) as FaceApi;
  await faceapi.tf.setBackend('cpu');
  await faceapi.tf.ready();
  const net = new faceapi.FaceRecognitionNet();
  await net.loadFromUri(modelDir);
  const faceApi: number[][] = [];
  for (let i = 0; i < n; i++) {
    const t = faceapi.tf.tensor3d(images.data.slice(i * h * w * 3, (i + 1) * h * w * 3), [h, w, 3]);
    faceApi.push(Array.from(await net.computeFaceDescriptor(t)));
    t.dispose();
  }

  const gpu = await createGpu();
  const model = await loadModel(gpu, `${modelDir}/face_recognition_model-weights_manifest.json`);
  // face-api's normalisation: (RGB − mean colour) / 255, here as NCHW.
  const input = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < h * w; p++) input[(i * 3 + c) * h * w + p] = (images.data[(i * h * w + p) * 3 + c] - MEAN_RGB[c]) / 255;
  const out = await model.run(input, [n, 3, h, w]);
  model.dispose();
  const ours = Array.from({ length: n }, (_, i) => Array.from(out.subarray(i * 128, (i + 1) * 128)));
  return { faceApi, ours, tfBackend: faceapi.tf.getBackend(), adapter: describeAdapter(gpu.adapter) };
};
