import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../web/serve.mjs';

/** GET a raw path (sent as written, not normalised by a URL parser); resolves to the status. */
const get = (base: string, path: string) =>
  new Promise<number>((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });

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
