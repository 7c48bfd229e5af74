#!/usr/bin/env node
/**
 * A static server for the browser harness: web/ at /web, the bundle at /dist, onnxruntime-web's
 * files at /ort. It sends the cross-origin isolation headers that threaded wasm needs and serves
 * .wasm as application/wasm. `node web/serve.mjs [port]` after `npm run build`.
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
};

/** Map a URL path to a file under one of the mounts; null when outside them, undefined when malformed. */
function resolvePath(urlPath) {
  if (urlPath === '/' || urlPath === '/index.html') return join(root, 'web', 'index.html');
  for (const [prefix, dir] of Object.entries(mounts)) {
    if (!urlPath.startsWith(prefix)) continue;
    let rest;
    try {
      rest = decodeURIComponent(urlPath.slice(prefix.length));
    } catch {
      return undefined; // a broken %-escape such as %E0%A4%A
    }
    if (rest.includes('\0')) return undefined;
    const file = normalize(join(dir, rest));
    return file.startsWith(dir + sep) ? file : null;
  }
  return null;
}

/** Start serving on 127.0.0.1; resolves to { url, close }. Port 0 picks a free port. */
export function startServer(port = 0) {
  const server = createServer((req, res) => {
    let file;
    try {
      file = resolvePath(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      file = undefined;
    }
    if (file === undefined) {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request: malformed URL');
      return;
    }
    let size = -1;
    try {
      if (file) size = statSync(file).isFile() ? statSync(file).size : -1;
    } catch {
      size = -1;
    }
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    if (!file || size < 0) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': types[extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
    // a file removed between stat and read ends this response, not the server
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolve({ url: `http://127.0.0.1:${p}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startServer(Number(process.argv[2] ?? 8080));
  console.log(`serving the harness at ${url}/`);
}
