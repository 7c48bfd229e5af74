#!/usr/bin/env node
/**
 * Static servers with the cross-origin isolation headers that threaded wasm needs (.wasm served as
 * application/wasm): the browser harness (web/ at /web, the bundle at /dist, onnxruntime-web's
 * files at /ort; `node web/serve.mjs [port]` after `npm run build`), and one folder, such as the
 * demo page's dist/demo (`npm run demo`).
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mounts = {
  '/web/': join(root, 'web'),
  '/dist/': join(root, 'dist'),
  '/ort/': join(root, 'node_modules', 'onnxruntime-web', 'dist'),
};
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.css': 'text/css; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** A URL path below a prefix as a file inside dir; null when outside it, undefined when malformed. */
function fileUnder(dir, rest) {
  try {
    rest = decodeURIComponent(rest);
  } catch {
    return undefined; // a broken %-escape such as %E0%A4%A
  }
  if (rest.includes('\0')) return undefined;
  const file = normalize(join(dir, rest));
  return file.startsWith(dir + sep) ? file : null;
}

/** Map a URL path to a file under one of the mounts; null when outside them, undefined when malformed. */
function resolvePath(urlPath) {
  if (urlPath === '/' || urlPath === '/index.html') return join(root, 'web', 'index.html');
  for (const [prefix, dir] of Object.entries(mounts)) {
    if (urlPath.startsWith(prefix)) return fileUnder(dir, urlPath.slice(prefix.length));
  }
  return null;
}

/** Start serving the harness on 127.0.0.1; resolves to { url, close }. Port 0 picks a free port. */
export function startServer(port = 0) {
  return serve(resolvePath, port, '127.0.0.1', 'no-store');
}

/**
 * Serve one folder (index.html at /) on host:port. Files may be cached but are revalidated, so a
 * rebuilt page is picked up on reload while onnxruntime-web's large .wasm files are not fetched again.
 */
export function startFolderServer(dir, port = 0, host = '127.0.0.1') {
  const base = normalize(dir).replace(/[\\/]+$/, '');
  const resolve = (urlPath) => fileUnder(base, urlPath.endsWith('/') ? `${urlPath}index.html` : urlPath);
  return serve(resolve, port, host, 'no-cache');
}

function serve(resolve, port, host, cacheControl) {
  const server = createServer((req, res) => {
    let file;
    try {
      file = resolve(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      file = undefined;
    }
    if (file === undefined) {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request: malformed URL');
      return;
    }
    let stat;
    try {
      stat = file ? statSync(file) : undefined;
    } catch {
      stat = undefined;
    }
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': cacheControl,
    };
    if (!file || !stat?.isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const modified = stat.mtime.toUTCString();
    if (cacheControl !== 'no-store' && req.headers['if-modified-since'] === modified) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': types[extname(file)] ?? 'application/octet-stream', 'Content-Length': stat.size, 'Last-Modified': modified });
    // a file removed between stat and read ends this response, not the server
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: p } = server.address();
      const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
      resolveListen({ url: `http://${shown}:${p}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startServer(Number(process.argv[2] ?? 8080));
  console.log(`serving the harness at ${url}/`);
}
