import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFolderServer, startServer } from '../web/serve.mjs';

/** GET a raw path (sent as written, not normalised by a URL parser); resolves to the status and headers. */
const fetchRaw = (base: string, path: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const req = request({ hostname, port, path, method: 'GET', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
const get = async (base: string, path: string) => (await fetchRaw(base, path)).status;

describe('the harness server', () => {
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => { server = await startServer(0); });
  afterAll(async () => { await server?.close(); });

  it('answers 400 to a malformed URL and keeps serving', async () => {
    expect(await get(server.url, '/web/%E0%A4%A')).toBe(400);
    expect(await get(server.url, '/dist/%')).toBe(400);
    expect(await get(server.url, '/web/%00index.html')).toBe(400);
    expect(await get(server.url, '/web/index.html')).toBe(200);
    expect(await get(server.url, '/web/../package.json')).toBe(404);
    expect(await get(server.url, '/web/%2e%2e/package.json')).toBe(404);
  });
});

describe('the folder server (npm run demo)', () => {
  let server: { url: string; close(): Promise<void> };
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deq-serve-'));
    mkdirSync(join(dir, 'ort'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html>');
    writeFileSync(join(dir, 'ort', 'x.wasm'), new Uint8Array([0, 97, 115, 109]));
    writeFileSync(join(dir, '..', `${dir.split(/[\\/]/).pop()}-outside.txt`), 'outside');
    server = await startFolderServer(dir, 0);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-outside.txt`, { force: true });
  });

  it('serves index.html at / with the cross-origin isolation headers, and .wasm as application/wasm', async () => {
    const root = await fetchRaw(server.url, '/');
    expect(root.status).toBe(200);
    expect(root.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(root.headers['cross-origin-embedder-policy']).toBe('require-corp');
    const wasm = await fetchRaw(server.url, '/ort/x.wasm');
    expect([wasm.status, wasm.headers['content-type']]).toEqual([200, 'application/wasm']);
    // revalidated, not fetched again: onnxruntime-web's wasm files are large
    const again = await fetchRaw(server.url, '/ort/x.wasm', { 'If-Modified-Since': String(wasm.headers['last-modified']) });
    expect(again.status).toBe(304);
  });

  it('serves nothing outside its folder, and answers 400 to a malformed URL', async () => {
    const outside = `/../${dir.split(/[\\/]/).pop()}-outside.txt`;
    expect(await get(server.url, outside)).toBe(404);
    expect(await get(server.url, outside.replace('..', '%2e%2e'))).toBe(404);
    expect(await get(server.url, '/missing.js')).toBe(404);
    expect(await get(server.url, '/%E0%A4%A')).toBe(400);
    expect(await get(server.url, '/index.html')).toBe(200);
  });
});
