// The demo page: classify an image with the bundled Fashion-MNIST ResNet-18, a seeded random ResNet
// of any depth, or weights from a URL or dropped files; show top-5, latency and per-layer GPU time.
import {
  canProfile,
  createGpu,
  describeAdapter,
  describeResNet,
  IMAGENET_PREPROCESS,
  InputError,
  loadModel,
  openWeights,
  profileSchedule,
  resnetConfig,
  ResNetModel,
  WeightsError,
  type Gpu,
  type PreparedWeights,
  type RgbaImage,
  type StepTiming,
  type TensorMap,
} from '../src/index';
import { expectedTensors } from '../src/model/resnet';

const DEFAULT_MODEL = new URL('models/fashion-mnist-resnet18/model.json', document.baseURI);
/** Steady-state runs after the first: at most this many, and no more once this much time has passed. */
const STEADY_RUNS = 5;
const STEADY_BUDGET_MS = 3000;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface Loaded {
  model: ResNetModel;
  name: string;
  /** The model menu's entry for it. */
  option: string;
  /** Seeded random weights: the predictions mean nothing. */
  random: boolean;
  labels: string[];
  loadMs: number;
  firstMs?: number;
}

interface Picture {
  image: RgbaImage;
  bitmap: ImageBitmap;
  name: string;
}

const gpuReady: Promise<Gpu> = createGpu();
let current: Loaded | undefined;
let picture: Picture | undefined;

// One job at a time: the model's schedule buffers are shared, and a profile reads what the last run left in them.
let queue: Promise<void> = Promise.resolve();
function job(status: string, work: () => Promise<void>): Promise<void> {
  queue = queue.then(async () => {
    document.body.dataset.state = 'busy';
    $('status').textContent = status;
    showError(undefined);
    try {
      await work();
      document.body.dataset.state = 'ready';
      $('status').textContent = current ? `Ready: ${current.name}` : '';
    } catch (e) {
      showError(e);
      document.body.dataset.state = 'error';
      $('status').textContent = '';
    }
  });
  return queue;
}

function showError(e: unknown): void {
  const box = $('error');
  box.hidden = e === undefined;
  box.replaceChildren();
  if (e === undefined) return;
  const error = e instanceof Error ? e : new Error(String(e));
  const name = document.createElement('strong');
  name.textContent = `${error.name}: `;
  box.append(name, error.message);
}
// Nothing may fail silently in the console only.
window.addEventListener('error', (event) => showError(event.error ?? event.message));
window.addEventListener('unhandledrejection', (event) => showError(event.reason));

// ---- Models -----------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a depth's random weights are the same on every visit. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random weights for a torchvision ResNet, to measure speed. Each convolution's folded BatchNorm
 * scale is gain/√fan-in: √2 before a ReLU, and 0.2 for a block's last convolution, whose output is
 * added to the block's input: with gain 1 the sum's variance would grow ~1.5× a block, and
 * ResNet-152's logits would saturate the softmax.
 */
function seededWeights(arch: string, seed = 1): PreparedWeights {
  const config = resnetConfig(arch);
  const ops = describeResNet(config);
  const convs = new Map(ops.flatMap((op) => (op.op === 'conv' ? [[op.name, op] as const] : [])));
  const random = prng(seed);
  const uniform = (n: number, bound: number): Float32Array => Float32Array.from({ length: n }, () => (2 * random() - 1) * bound);
  const tensors: TensorMap = new Map();
  for (const [name, shape] of expectedTensors(ops)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const layer = name.slice(0, name.lastIndexOf('.'));
    const conv = convs.get(layer);
    let data: Float32Array;
    if (name.endsWith('.bias')) data = new Float32Array(n);
    else if (name.endsWith('.scale')) {
      const gain = conv?.residual ? 0.2 : conv?.relu ? Math.SQRT2 : 1;
      data = new Float32Array(n).fill(conv ? gain / Math.sqrt(conv.inChannels * conv.kernel ** 2) : 1);
    } else if (shape.length === 4) data = uniform(n, Math.sqrt(3)); // variance 1; the scale sizes it
    else data = uniform(n, Math.sqrt(3 / shape[1])); // fc: variance 1/fan-in
    tensors.set(name, { shape, data });
  }
  return { config, tensors, meta: {} };
}

/** The model's own class names; ImageNet's for a trained 1000-class model that has none. */
async function classNames(model: ResNetModel, random: boolean): Promise<string[]> {
  const n = model.config.numClasses;
  if (model.meta.labels?.length === n) return model.meta.labels;
  // Loaded only for such a model: the default one does not need these 1000 names.
  if (!random && n === 1000) return (await import('../src/model/imagenet-labels.json')).default;
  return Array.from({ length: n }, (_, i) => `class ${i}`);
}

/** Load a model in place of the current one; `option` is its menu entry ('custom' adds one named after it). */
async function useModel(status: string, name: string, option: string, load: (gpu: Gpu) => Promise<ResNetModel>): Promise<void> {
  const random = option.startsWith('seeded:');
  await job(status, async () => {
    const gpu = await gpuReady;
    const start = performance.now();
    const model = await load(gpu);
    const loadMs = performance.now() - start;
    // The previous model stays usable until this one has loaded: a bad file changes nothing.
    await current?.model.dispose();
    current = { model, name, option, random, labels: await classNames(model, random), loadMs };
    renderModelInfo(current);
    if (picture) await classify(current, picture);
  });
  syncMenu();
}

/** The menu shows the model in use, also after a load that failed. */
function syncMenu(): void {
  if (!current) return;
  const select = $<HTMLSelectElement>('model-select');
  let custom = select.querySelector<HTMLOptionElement>('option[value="custom"]');
  if (current.option === 'custom') {
    if (!custom) {
      custom = document.createElement('option');
      custom.value = 'custom';
      select.append(custom);
    }
    custom.textContent = `Loaded: ${current.name}`;
  }
  select.value = current.option;
}

/**
 * Dropped or chosen files: the one to open is the index (.json) or ONNX graph (whose external data
 * may come along) when there is exactly one, else the only file; the others are what it refers to.
 */
function openDropped(files: File[]): { name: string; read: (relative: string) => Promise<Uint8Array> } {
  if (files.length === 0) throw new WeightsError('(no file)', 'no file was dropped');
  const byName = new Map(files.map((f) => [f.name, f]));
  const only = (ext: string): File | undefined => {
    const matches = files.filter((f) => f.name.toLowerCase().endsWith(ext));
    return matches.length === 1 ? matches[0] : undefined;
  };
  const main = only('.json') ?? only('.onnx') ?? (files.length === 1 ? files[0] : undefined);
  if (!main) {
    throw new WeightsError(
      files.map((f) => f.name).join(', '),
      'cannot tell which file to open: drop one weights file, or one index (.json) or ONNX graph together with the files it refers to',
    );
  }
  const read = async (relative: string): Promise<Uint8Array> => {
    const file = byName.get(relative) ?? byName.get(relative.split(/[\\/]/).pop()!);
    if (!file) {
      throw new WeightsError(
        relative,
        `not among the dropped files (${files.map((f) => f.name).join(', ')}). A page cannot fetch the files beside a dropped index: drop or select ${main.name} together with its shards`,
      );
    }
    return new Uint8Array(await file.arrayBuffer());
  };
  return { name: main.name, read };
}

function useDroppedWeights(files: File[]): void {
  let opened: ReturnType<typeof openDropped>;
  try {
    opened = openDropped(files);
  } catch (e) {
    showError(e);
    return;
  }
  void useModel(`Loading ${opened.name}…`, opened.name, 'custom', async (gpu) => ResNetModel.load(gpu, await openWeights(opened.name, opened.read), opened.name));
}

function chooseModel(value: string): void {
  if (value === 'default') void useModel('Loading the Fashion-MNIST ResNet-18…', 'Fashion-MNIST ResNet-18', value, (gpu) => loadModel(gpu, DEFAULT_MODEL));
  else if (value.startsWith('seeded:')) {
    const arch = value.slice('seeded:'.length);
    void useModel(`Building ${arch} with random weights…`, `${arch}, random weights`, value, (gpu) => ResNetModel.load(gpu, seededWeights(arch), `${arch} (random)`));
  }
}

// ---- Images -----------------------------------------------------------------------------------

/** Decode with the browser's own decoder, pixels as stored (no colour management, no premultiplied alpha). */
async function decode(blob: Blob, name: string): Promise<Picture> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new InputError(`${name}: not an image this browser can decode (${(e as Error).message})`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return { image: { data, width, height }, bitmap, name };
}

function classifyBlob(blob: Blob, name: string): void {
  void job(`Classifying ${name}…`, async () => {
    const next = await decode(blob, name);
    if (!current) throw new InputError('no model is loaded');
    picture?.bitmap.close();
    picture = next;
    await classify(current, next);
  });
}

async function classifySample(url: URL, name: string): Promise<void> {
  const response = await fetch(url);
  if (!response.ok) throw new InputError(`${name}: HTTP ${response.status} ${response.statusText} from ${url}`);
  classifyBlob(await response.blob(), name);
}

async function classify(loaded: Loaded, pic: Picture): Promise<void> {
  const { model } = loaded;
  const run = () => model.runImages([pic.image], { output: 'probabilities' });
  let start = performance.now();
  const probabilities = await run();
  const once = performance.now() - start;
  // The first inference on a model also compiles the image's preprocessing pipeline.
  loaded.firstMs ??= once;
  const steady: number[] = [];
  const deadline = performance.now() + STEADY_BUDGET_MS;
  while (steady.length < STEADY_RUNS && (steady.length === 0 || performance.now() < deadline)) {
    start = performance.now();
    await run();
    steady.push(performance.now() - start);
  }
  renderModelInfo(loaded); // now with the activation memory of this input size
  renderPicture(pic);
  renderTop5(loaded, probabilities);
  renderLatency(loaded, once, steady);
  $('results').hidden = false;
  const gpu = model.gpu;
  if (canProfile(gpu)) {
    const pre = model.meta.preprocess ?? IMAGENET_PREPROCESS;
    // The schedule's buffers still hold this image: the profile times the same work.
    renderLayers(await profileSchedule(gpu, await model.scheduleFor({ n: 1, h: pre.cropH, w: pre.cropW, c: 3 })));
  } else {
    renderLayers(undefined);
  }
}

// ---- Rendering --------------------------------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = className;
  e.textContent = text;
  return e;
}

const ms = (x: number): string => (x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`);
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
/** Two decimals near 0% and 100%, where one would round to either; never a rounded 0% or 100%. */
const percent = (p: number): string =>
  p < 0.0001 ? '<0.01%' : p > 0.9999 ? '>99.99%' : `${(100 * p).toFixed(p >= 0.9995 || p < 0.001 ? 2 : 1)}%`;

function randomBadge(): HTMLElement {
  return element('span', 'badge', 'not pretrained — for speed only');
}

function renderModelInfo(loaded: Loaded): void {
  const { model } = loaded;
  const memory = model.memory();
  const pre = model.meta.preprocess ?? IMAGENET_PREPROCESS;
  const info = $('model-info');
  const title = element('p', 'model-name', loaded.name + ' ');
  if (loaded.random) title.append(randomBadge());
  const facts = element(
    'p',
    'muted small',
    `${model.config.arch} ${model.config.variant} · ${(model.parameterCount / 1e6).toFixed(1)} M parameters · ` +
      `${model.config.numClasses} classes · input ${pre.cropW}×${pre.cropH}${pre.grayscale ? ' grayscale' : ''} · ` +
      `weights ${mb(memory.weightBytes)}` +
      (memory.activationBytes ? `, activations ${mb(memory.activationBytes)}` : '') +
      ` · loaded in ${ms(loaded.loadMs)}`,
  );
  info.replaceChildren(title, facts);
}

function renderPicture(pic: Picture): void {
  const canvas = $<HTMLCanvasElement>('preview');
  const context = canvas.getContext('2d')!;
  const scale = Math.min(canvas.width / pic.bitmap.width, canvas.height / pic.bitmap.height);
  const w = pic.bitmap.width * scale;
  const h = pic.bitmap.height * scale;
  context.clearRect(0, 0, canvas.width, canvas.height);
  // Small images (28×28) magnified as pixels, not blurred.
  context.imageSmoothingEnabled = scale < 1;
  context.drawImage(pic.bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  $('preview-caption').textContent = `${pic.name} (${pic.bitmap.width}×${pic.bitmap.height})`;
}

function renderTop5(loaded: Loaded, probabilities: Float32Array): void {
  const order = Array.from(probabilities.keys())
    .sort((a, b) => probabilities[b] - probabilities[a])
    .slice(0, 5);
  const best = order[0];
  const prediction = $('prediction');
  prediction.replaceChildren(element('span', 'label', loaded.labels[best]), element('span', 'pct', ` ${percent(probabilities[best])}`));
  if (loaded.random) prediction.append(' ', randomBadge());
  $('top5').replaceChildren(
    ...order.map((i) => {
      const row = element('div', 'bar-row');
      const track = element('div', 'track');
      const bar = element('div', 'bar');
      bar.style.width = `${Math.max(0.5, 100 * probabilities[i])}%`;
      track.append(bar);
      row.append(element('span', 'name', loaded.labels[i]), track, element('span', 'pct', percent(probabilities[i])));
      return row;
    }),
  );
}

function renderLatency(loaded: Loaded, once: number, steady: number[]): void {
  const sorted = [...steady].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  const rows: [key: string, term: string, value: string, note: string][] = [
    ['first', 'First inference', ms(loaded.firstMs!), 'first image on this model: builds its schedule'],
    ['steady', 'Steady state', ms(median), `median of ${steady.length} run${steady.length > 1 ? 's' : ''}, ${ms(sorted[0])}–${ms(sorted[sorted.length - 1])}`],
    ['this', 'This image', ms(once), 'its first run'],
    ['load', 'Model load', ms(loaded.loadMs), 'fetch or build, upload, compile'],
  ];
  $('latency').replaceChildren(
    ...rows.flatMap(([key, term, value, note]) => {
      const dd = element('dd', '', value);
      dd.dataset.key = key;
      dd.append(element('span', 'note', note));
      return [element('dt', '', term), dd];
    }),
  );
}

function renderLayers(steps: StepTiming[] | undefined): void {
  const caption = $('layers-caption');
  if (!steps) {
    caption.textContent = "This adapter has no timestamp queries ('timestamp-query'), so per-layer GPU times cannot be measured.";
    $('layers').replaceChildren();
    return;
  }
  const total = steps.reduce((sum, s) => sum + s.ms, 0);
  const slowest = Math.max(...steps.map((s) => s.ms));
  caption.textContent = `${steps.length} steps, ${ms(total)} in all, from timestamp queries (each step in its own pass, so slightly slower than a plain run).`;
  $('layers').replaceChildren(
    ...steps.map((s) => {
      const row = element('div', 'layer-row');
      row.title = `${s.kernel}: ${s.ms.toFixed(3)} ms, ${s.gflops.toFixed(1)} GFLOP/s`;
      const track = element('div', 'track');
      const bar = element('div', `bar kernel-${s.kernel.replace(/[^a-z0-9]+/gi, '-')}`);
      bar.style.width = `${slowest > 0 ? Math.max(0.5, (100 * s.ms) / slowest) : 0}%`;
      track.append(bar);
      row.append(element('span', 'name', s.label), track, element('span', 'ms', s.ms.toFixed(2)));
      return row;
    }),
  );
}

async function renderSamples(): Promise<void> {
  const base = new URL('samples/', DEFAULT_MODEL);
  const response = await fetch(new URL('samples.json', base));
  if (!response.ok) throw new InputError(`samples.json: HTTP ${response.status} ${response.statusText} from ${response.url}`);
  const { samples } = (await response.json()) as { samples: { file: string; name: string }[] };
  $('samples').replaceChildren(
    ...samples.map((s) => {
      const button = element('button', 'sample');
      button.type = 'button';
      button.title = `${s.name} (${s.file})`;
      button.dataset.label = s.name;
      const img = document.createElement('img');
      img.src = new URL(s.file, base).href;
      img.alt = s.name;
      button.append(img);
      button.addEventListener('click', () => classifySample(new URL(s.file, base), s.file).catch(showError));
      return button;
    }),
  );
}

// ---- Wiring -----------------------------------------------------------------------------------

function dropZone(zone: HTMLElement, onFiles: (files: File[]) => void): void {
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    onFiles([...(event.dataTransfer?.files ?? [])]);
  });
}

function fileInput(input: HTMLInputElement, onFiles: (files: File[]) => void): void {
  input.addEventListener('change', () => {
    onFiles([...(input.files ?? [])]);
    // Choosing the same file again should run again.
    input.value = '';
  });
}

const onImage = (files: File[]): void => {
  if (files[0]) classifyBlob(files[0], files[0].name);
};
dropZone($('image-drop'), onImage);
fileInput($('image-file'), onImage);
dropZone($('weights-drop'), useDroppedWeights);
fileInput($('weights-file'), useDroppedWeights);
$('model-select').addEventListener('change', (event) => chooseModel((event.target as HTMLSelectElement).value));
$('url-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const url = $<HTMLInputElement>('weights-url').value.trim();
  void useModel(`Loading ${url}…`, url, 'custom', (gpu) => loadModel(gpu, url));
});
// Dropping a file anywhere else would make the browser navigate away to it.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

void job('Starting WebGPU…', async () => {
  const gpu = await gpuReady;
  $('adapter').textContent = `Adapter: ${describeAdapter(gpu.adapter)} · timestamp queries: ${canProfile(gpu) ? 'yes' : 'no'}`;
});
renderSamples().catch(showError);
chooseModel('default');
