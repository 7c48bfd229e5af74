#!/usr/bin/env node
/**
 * `npm run demo`: serve the demo page (dist/demo, built first when it is missing) with the
 * cross-origin isolation headers threaded wasm needs, and print its URL.
 *   npm run demo [-- --port 8080] [--host 127.0.0.1] [--rebuild]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFolderServer } from '../web/serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const folder = join(root, 'dist', 'demo');

function usage(message) {
  console.error(`npm run demo: ${message}\nusage: npm run demo [-- --port N] [--host ADDRESS] [--rebuild]`);
  process.exit(2);
}

let flags;
try {
  ({ values: flags } = parseArgs({ options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, rebuild: { type: 'boolean', default: false } } }));
} catch (e) {
  usage(e.message);
}
const port = Number(flags.port);
if (!/^\d+$/.test(flags.port) || port > 65535) usage(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(flags.port)}`);

if (flags.rebuild || !existsSync(join(folder, 'index.html'))) {
  console.log('building the demo page (node scripts/build.mjs demo)…');
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), 'demo'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

let server;
try {
  server = await startFolderServer(folder, port, flags.host);
} catch (e) {
  if (e.code !== 'EADDRINUSE') throw e;
  console.log(`port ${port} is in use; serving on a free port instead`);
  server = await startFolderServer(folder, 0, flags.host);
}
console.log(`deq-onnx demo: ${server.url}/   (serving ${folder}; Ctrl-C stops)`);
