// A local HTTP server laid out like the Hugging Face Hub, for test/fetch.test.ts and e2e/fetch.spec.ts:
// an LFS file under /{owner}/{repo}/resolve/{revision}/ answers with a 302 carrying x-linked-size and
// x-linked-etag (its sha256) to a CDN path that streams it without a Content-Length; other files are
// served directly with one. Faults can be injected once per path, and every request is logged.
import { createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'status-500' | 'cut';

interface Served {
  bytes: Uint8Array;
  /** Served as Hugging Face serves LFS files: a redirect to the CDN. */
  lfs: boolean;
  /** x-linked-etag to announce (default: the real sha256). */
  linkedEtag?: string;
}

export interface WebServer {
  /** http://127.0.0.1:port */
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  add(path: string, bytes: Uint8Array, options?: { lfs?: boolean; linkedEtag?: string }): void;
  /** Fail the next request for `path`: a 500, or the connection closed halfway through the body. */
  failOnce(path: string, fault: Fault): void;
  close(): Promise<void>;
}

const CDN = '/cdn';

export async function startWebServer(): Promise<WebServer> {
  const files = new Map<string, Served>();
  const faults = new Map<string, Fault>();
  const requests: string[] = [];

  const server = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    requests.push(path);
    // The test page comes from another origin (the Vite server), as the Hub's files do for any page.
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-expose-headers', 'x-linked-size, x-linked-etag, etag, content-length');
    const fault = faults.get(path);
    faults.delete(path);
    if (fault === 'status-500') return void res.writeHead(500).end('injected failure');
    const cdn = path.startsWith(`${CDN}/`);
    const file = files.get(cdn ? path.slice(CDN.length) : path);
    if (!file || (cdn && !file.lfs)) return void res.writeHead(404).end('Entry not found');
    const sha256 = createHash('sha256').update(file.bytes).digest('hex');
    if (file.lfs && !cdn) {
      return void res.writeHead(302, { location: `${CDN}${path}`, 'x-linked-size': String(file.bytes.byteLength), 'x-linked-etag': `"${file.linkedEtag ?? sha256}"` }).end();
    }
    // The CDN's etag is not a sha256 (S3's is an MD5): only the redirect's x-linked-etag states one.
    const etag = `"${createHash(cdn ? 'md5' : 'sha1').update(file.bytes).digest('hex')}"`;
    if (cdn) res.writeHead(200, { etag, 'content-type': 'application/octet-stream' });
    else res.writeHead(200, { etag, 'content-length': String(file.bytes.byteLength) });
    if (fault === 'cut') return void res.write(file.bytes.subarray(0, file.bytes.byteLength >> 1), () => res.destroy());
    void streamChunks(res, file.bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    add: (path, bytes, options = {}) => files.set(path, { bytes, lfs: options.lfs ?? false, linkedEtag: options.linkedEtag }),
    failOnce: (path, fault) => faults.set(path, fault),
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // keep-alive connections would hold close() open
      return closed;
    },
  };
}

/** Write in 1 MiB chunks, so a reader sees the body arrive in parts. */
async function streamChunks(res: ServerResponse, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.byteLength; at += 1 << 20) {
    if (!res.write(bytes.subarray(at, at + (1 << 20)))) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}
