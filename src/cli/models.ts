// What the CLI knows about models beyond the library: where the bundled one lives, class names,
// and the metadata `convert` writes into an index.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, type PreprocessConfig, type ResNetConfig } from '../node';
import imagenetLabels from '../model/imagenet-labels.json';

/**
 * The package's root: the first folder up from this module with a package.json. This module runs
 * from dist/ when installed and from src/cli/ under the tests' tooling; either way the bundled
 * model is found relative to the package, never the working directory.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The bundled model: torchvision resnet18 trained on Fashion-MNIST (weights/fashion-mnist-resnet18/README.md). */
export const DEFAULT_MODEL = join(packageRoot(), 'weights', 'fashion-mnist-resnet18', 'model.json');

/** PyTorch's predicted class for each Fashion-MNIST test image, one byte each, kept beside a model's index. */
export const REFERENCE_PREDICTIONS = 'torch-predictions.bin';

/** The model's own labels; ImageNet's for an unlabelled 1000-class model; otherwise "class <i>". */
export function classNames(config: ResNetConfig, labels: string[] | undefined): string[] {
  if (labels?.length === config.numClasses) return labels;
  if (config.numClasses === imagenetLabels.length) return imagenetLabels;
  return Array.from({ length: config.numClasses }, (_, i) => `class ${i}`);
}

/** Class names from a JSON array of strings, or a text file with one name a line. */
export async function readLabels(file: string, classes: number): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  let labels: unknown;
  if (file.toLowerCase().endsWith('.json')) {
    try {
      labels = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
    }
  } else {
    labels = text.replace(/\r?\n$/, '').split(/\r?\n/);
  }
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) throw new InputError(`${file}: expected a JSON array of strings`);
  if (labels.length !== classes) throw new InputError(`${file}: ${labels.length} labels for a model with ${classes} classes`);
  return labels;
}

/** `--preprocess`: a JSON object inline, or the path of a file holding one. */
export async function readPreprocess(value: string): Promise<PreprocessConfig> {
  const inline = value.trimStart().startsWith('{');
  const source = inline ? '--preprocess' : value;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(inline ? value : await readFile(value, 'utf8'));
  } catch (e) {
    if (typeof (e as NodeJS.ErrnoException).code === 'string') throw e;
    throw new InputError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const fail = (why: string): never => {
    throw new InputError(`${source}: ${why} (expected {"resize", "cropH", "cropW", "mean": [r, g, b], "std": [r, g, b], "grayscale"})`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('not a JSON object');
  const known = ['resize', 'cropH', 'cropW', 'mean', 'std', 'grayscale'];
  const unknown = Object.keys(json).find((k) => !known.includes(k));
  if (unknown) fail(`unknown field "${unknown}"`);
  for (const k of ['resize', 'cropH', 'cropW']) if (!(Number.isInteger(json[k]) && (json[k] as number) > 0)) fail(`"${k}" must be a positive integer`);
  const triple = (k: string, positive: boolean): [number, number, number] => {
    const v = json[k];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))) {
      return fail(`"${k}" must be three ${positive ? 'positive ' : ''}numbers`);
    }
    return v as [number, number, number];
  };
  if (json.grayscale !== undefined && typeof json.grayscale !== 'boolean') fail('"grayscale" must be true or false');
  return {
    resize: json.resize as number,
    cropH: json.cropH as number,
    cropW: json.cropW as number,
    mean: triple('mean', false),
    std: triple('std', true),
    grayscale: json.grayscale === true,
  };
}
