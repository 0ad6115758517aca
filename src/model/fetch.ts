import { WeightsError } from '../runtime/errors';
import { openWeights, type ReadFile, type WeightOptions } from './load';
import { sha256Hex } from './shards';
import type { PreparedWeights } from './tensors';

/** Bytes received and expected over every file of a load so far (a file of unknown size counts what has arrived). */
export interface LoadProgress {
  /** The file being read, relative to the model's folder. */
  file: string;
  loaded: number;
  total: number;
}

export interface FetchOptions {
  /** Called as bytes arrive; `loaded` and `total` never decrease, and end equal. */
  onProgress?: (progress: LoadProgress) => void;
  /** Keep fetched files in the browser's Cache API, keyed by URL (default true; no effect where `caches` is undefined). */
  cache?: boolean;
  /** Where `hf:` sources resolve (default https://huggingface.co). */
  hfHost?: string;
  /** Further tries of a file after a network error, a 5xx or a 429 (default 3). */
  retries?: number;
}

export type LoadOptions = WeightOptions & FetchOptions;

export const CACHE_NAME = 'resnet-webgpu-v1';
export const HF_HOST = 'https://huggingface.co';
/** The files a Hugging Face repository may hold its weights in, tried in this order. */
export const HF_WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'];

/**
 * Fetch and open weights from a URL (any format openWeights reads; companion files resolved beside
 * it) or from `hf:owner/repo[@revision]`. Returns the weights and the URL they came from. Files
 * fetched are written to the Cache API once `storeAfter` settles.
 */
export async function fetchWeights(source: string | URL, options: LoadOptions = {}, storeAfter: Promise<unknown> = Promise.resolve()): Promise<{ weights: PreparedWeights; url: string }> {
  if (String(source).startsWith('hf:')) return fetchHf(String(source), options, storeAfter);
  const url = new URL(source, globalThis.location?.href);
  return { weights: await openWeights(url.pathname, new WebFiles(url, options, storeAfter).read, options), url: url.href };
}

async function fetchHf(source: string, options: LoadOptions, storeAfter: Promise<unknown>): Promise<{ weights: PreparedWeights; url: string }> {
  const match = /^hf:([\w.-]+)\/([\w.-]+)(?:@(\S+))?$/.exec(source);
  if (!match) throw new WeightsError(source, 'expected hf:owner/repo or hf:owner/repo@revision');
  const [, owner, repo, revision = 'main'] = match;
  const host = options.hfHost ?? HF_HOST;
  const base = new URL(`${owner}/${repo}/resolve/${encodeURIComponent(revision)}/`, host.endsWith('/') ? host : `${host}/`);
  const files = new WebFiles(base, options, storeAfter);
  // Cached candidates first, so a repeated load makes no request (not even a 404 for a candidate tried before).
  let file: string | undefined;
  for (const name of HF_WEIGHT_FILES) if (!file && (await files.isCached(name))) file = name;
  for (const name of HF_WEIGHT_FILES) if (!file && (await files.prefetch(name))) file = name;
  if (!file) throw new WeightsError(source, `none of ${HF_WEIGHT_FILES.join(', ')} is at ${base.href} (HTTP 404): check the repository and revision`);
  const weights = await openWeights(new URL(file, base).pathname, files.read, options);
  const config = await files.get('config.json', true);
  const labels = config && hfLabels(config, weights.config.numClasses);
  return { weights: labels && !weights.meta.labels ? { ...weights, meta: { ...weights.meta, labels } } : weights, url: new URL(file, base).href };
}

/** transformers' config.json `id2label`, when it names every class; anything else is ignored (labels are optional). */
function hfLabels(bytes: Uint8Array, classes: number): string[] | undefined {
  let id2label: unknown;
  try {
    id2label = JSON.parse(new TextDecoder().decode(bytes))?.id2label;
  } catch {
    return undefined;
  }
  if (typeof id2label !== 'object' || id2label === null || Object.keys(id2label).length !== classes) return undefined;
  const labels = Array.from({ length: classes }, (_, i) => (id2label as Record<string, unknown>)[i]);
  return labels.every((l) => typeof l === 'string') ? (labels as string[]) : undefined;
}

/** Cache API writes not yet finished, by URL: a load that starts meanwhile waits for them rather than downloading again. */
const storing = new Map<string, Promise<unknown>>();

/** A failure worth another try: a network error, a 5xx or 429, a body cut short. */
class Transient extends Error {}

/** Whether fetch shows redirect responses (Node) or only opaque ones (browsers); learned on the first redirect. */
let redirectsVisible = true;

/** Reads files beside `base` over HTTP: streamed with progress, retried, sha256-checked where the server states it, cached in the browser. */
class WebFiles {
  private readonly progress = new Map<string, { loaded: number; size?: number }>();
  private readonly prefetched = new Map<string, Uint8Array>();
  private cache?: Promise<Cache | undefined>;

  constructor(
    private readonly base: URL,
    private readonly options: FetchOptions,
    /** Cache API writes wait for this: writing 100 MB (~0.4 s of CPU) would otherwise compete with loading the model. */
    private readonly storeAfter: Promise<unknown>,
  ) {}

  readonly read: ReadFile = async (name) => {
    const bytes = this.prefetched.get(name);
    this.prefetched.delete(name);
    return bytes ?? (await this.get(name, false))!;
  };

  /** Fetch `name` for a later read; false when the server has no such file (404). */
  async prefetch(name: string): Promise<boolean> {
    const bytes = await this.get(name, true);
    if (bytes) this.prefetched.set(name, bytes);
    return bytes !== undefined;
  }

  async isCached(name: string): Promise<boolean> {
    return (await this.cached(new URL(name, this.base).href)) !== undefined;
  }

  /** The file's bytes; undefined for a 404 when `optional`, else a 404 is a WeightsError. */
  async get(name: string, optional: boolean): Promise<Uint8Array | undefined> {
    const url = new URL(name, this.base).href;
    const hit = await this.cached(url);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      this.report(name, bytes.byteLength, bytes.byteLength);
      return bytes;
    }
    const retries = this.options.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      try {
        const bytes = await this.download(name, url, optional);
        const cache = bytes && (await this.openCache());
        if (cache) {
          // A full quota only costs the next load a download.
          const put = this.storeAfter.then(() => cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>))).catch(() => undefined);
          storing.set(url, put);
          void put.finally(() => storing.get(url) === put && storing.delete(url));
        }
        return bytes;
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        if (attempt >= retries) throw new WeightsError(name, `${e.message} from ${url} (${attempt + 1} ${attempt ? 'tries' : 'try'})`);
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
      }
    }
  }

  private async download(name: string, url: string, optional: boolean): Promise<Uint8Array | undefined> {
    // Hugging Face answers an LFS file with a redirect to its CDN that carries the file's size and
    // sha256 (x-linked-size, x-linked-etag): followed by hand where fetch lets us see it.
    let response = await request(url, redirectsVisible ? 'manual' : 'follow');
    if (response.type === 'opaqueredirect') {
      redirectsVisible = false;
      response = await request(url, 'follow');
    }
    let linkedSize: string | null = null;
    let linkedEtag: string | null = null;
    for (let hops = 0, at = url; response.status >= 300 && response.status < 400 && response.headers.has('location'); hops++) {
      if (hops === 10) throw new WeightsError(name, `more than 10 redirects from ${url}`);
      linkedSize ??= response.headers.get('x-linked-size');
      linkedEtag ??= response.headers.get('x-linked-etag');
      await response.body?.cancel();
      at = new URL(response.headers.get('location')!, at).href;
      response = await request(at, 'manual');
    }
    if (response.status === 404 && optional) return undefined;
    if (response.status >= 500 || response.status === 429) throw new Transient(`HTTP ${response.status} ${response.statusText}`);
    if (!response.ok) {
      const hint = response.status === 401 || response.status === 403 ? ' (private, gated or missing: no credentials are sent)' : '';
      throw new WeightsError(name, `HTTP ${response.status} ${response.statusText} from ${url}${hint}`);
    }
    const headers = response.headers;
    // Content-Length counts encoded bytes when the body is compressed: then it is not the file's size.
    const encoded = (headers.get('content-encoding') ?? 'identity') !== 'identity';
    const announced = Number(linkedSize ?? headers.get('x-linked-size') ?? (encoded ? null : headers.get('content-length')) ?? NaN);
    const size = Number.isSafeInteger(announced) && announced >= 0 ? announced : undefined;
    const bytes = await this.stream(name, response, size);
    if (size !== undefined && bytes.byteLength !== size) throw new Transient(`received ${bytes.byteLength} bytes of ${size}`);
    this.report(name, bytes.byteLength, bytes.byteLength);
    const etag = (linkedEtag ?? headers.get('x-linked-etag') ?? headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '').toLowerCase();
    if (/^[0-9a-f]{64}$/.test(etag)) {
      const digest = await sha256Hex(bytes);
      if (digest !== etag) throw new WeightsError(name, `sha256 ${digest} does not match the server's ${etag} for ${url}: the download is corrupt or the file changed`);
    }
    return bytes;
  }

  /** The body, read chunk by chunk for progress, into one buffer (allocated once when the size is known). */
  private async stream(name: string, response: Response, size: number | undefined): Promise<Uint8Array> {
    let buffer = new Uint8Array(size ?? 1 << 20);
    let received = 0;
    const reader = response.body?.getReader();
    try {
      while (reader) {
        const { done, value } = await reader.read();
        if (done) break;
        if (received + value.byteLength > buffer.byteLength) {
          if (size !== undefined) throw new Transient(`received more than the ${size} bytes announced`);
          const grown = new Uint8Array(Math.max(2 * buffer.byteLength, received + value.byteLength));
          grown.set(buffer.subarray(0, received));
          buffer = grown;
        }
        buffer.set(value, received);
        received += value.byteLength;
        this.report(name, received, size);
      }
    } catch (e) {
      await reader?.cancel().catch(() => undefined);
      throw e instanceof Transient ? e : new Transient(`connection lost after ${received} bytes (${(e as Error).message})`);
    }
    return received === buffer.byteLength ? buffer : buffer.slice(0, received);
  }

  /** Progress over all files: a retried file reports again only once past its earlier high-water mark. */
  private report(name: string, loaded: number, size: number | undefined): void {
    const before = this.progress.get(name);
    const now = { loaded: Math.max(loaded, before?.loaded ?? 0), size: size ?? before?.size };
    if (before && now.loaded === before.loaded && now.size === before.size) return;
    this.progress.set(name, now);
    let sumLoaded = 0;
    let sumTotal = 0;
    for (const f of this.progress.values()) {
      sumLoaded += f.loaded;
      sumTotal += Math.max(f.size ?? 0, f.loaded);
    }
    this.options.onProgress?.({ file: name, loaded: sumLoaded, total: sumTotal });
  }

  /** The cached response for `url`, once any store of it still under way has finished. */
  private async cached(url: string): Promise<Response | undefined> {
    await storing.get(url);
    return (await this.openCache())?.match(url);
  }

  private openCache(): Promise<Cache | undefined> {
    // No Cache API in Node or insecure contexts; opening may still be refused (private modes, opaque origins).
    const usable = this.options.cache !== false && typeof caches !== 'undefined';
    return (this.cache ??= usable ? caches.open(CACHE_NAME).catch(() => undefined) : Promise.resolve(undefined));
  }
}

/** fetch, with a network failure as a Transient (retried). */
async function request(url: string, redirect: RequestRedirect): Promise<Response> {
  try {
    return await fetch(url, { redirect });
  } catch (e) {
    throw new Transient(`network error (${(e as Error).message})`);
  }
}
