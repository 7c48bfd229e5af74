/** Run in a child process with capped memory: each size case through importOnnx and loadOnnx, one JSON line each. */
import { importOnnx, loadOnnx } from '../../src/index.js';
import { sizeCases } from './size-cases.js';

for (const c of sizeCases) {
  const bytes = c.bytes();
  for (const api of ['importOnnx', 'loadOnnx'] as const) {
    let outcome: { error: string; message: string } | { error: null };
    try {
      if (api === 'importOnnx') importOnnx(bytes);
      else await (await loadOnnx(bytes)).release();
      outcome = { error: null };
    } catch (e) {
      outcome = { error: (e as Error)?.constructor?.name ?? typeof e, message: String((e as Error)?.message ?? e) };
    }
    console.log(JSON.stringify({ name: c.name, tensor: c.tensor, api, bytes: bytes.length, ...outcome }));
  }
}
