#!/usr/bin/env node
/**
 * Build: dist/index.js (Node, ESM), dist/cli.js (the `deq` command), dist/browser/deq-onnx.js
 * (browser, ESM) with esbuild, and type declarations in dist/types with tsc.
 *
 * The browser bundle includes onnx-proto (CommonJS; browsers cannot import it as is) and the
 * other pure-JS dependencies, and leaves onnxruntime-web external: the page's import map or the
 * app's bundler resolves it, which lets the app choose its build (wasm or webgpu) and serve the
 * .wasm files next to it, and keeps this bundle small.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (p) => join(root, p);
const nodeExternals = ['onnxruntime-node', 'onnxruntime-web', 'onnx-proto', 'fp-ts', 'ndarray', 'mnist', '@resvg/resvg-js', 'dejavu-fonts-ttf'];

const common = { bundle: true, format: 'esm', target: 'es2022', sourcemap: true, logLevel: 'warning', absWorkingDir: root };

async function buildBrowser() {
  await esbuild.build({
    ...common,
    entryPoints: [at('src/browser.ts')],
    outfile: at('dist/browser/deq-onnx.js'),
    platform: 'browser',
    // node: builtins are only reached on Node code paths (loading files by path), behind dynamic imports
    external: ['onnxruntime-web', 'onnxruntime-node', 'node:*'],
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  console.log('built dist/browser/deq-onnx.js');
}

async function main() {
  // `node scripts/build.mjs browser` rebuilds only the browser bundle (the browser test uses it)
  if (process.argv[2] === 'browser') return buildBrowser();
  rmSync(at('dist'), { recursive: true, force: true });

  // the package and its extension points (deq-onnx/extend) share their modules through common
  // chunks: a primitive defined through one entry must meet the tracer and registry of the other
  await esbuild.build({
    ...common,
    entryPoints: { index: at('src/index.ts'), extend: at('src/extend.ts') },
    outdir: at('dist'),
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    external: nodeExternals,
  });
  console.log('built dist/index.js and dist/extend.js');

  const cliEntry = at('src/cli/main.ts');
  if (existsSync(cliEntry)) {
    await esbuild.build({
      ...common,
      entryPoints: [cliEntry],
      outfile: at('dist/cli.js'),
      platform: 'node',
      external: nodeExternals,
      banner: { js: '#!/usr/bin/env node' },
    });
    chmodSync(at('dist/cli.js'), 0o755);
    // deq check runs onnxruntime-node's WebGPU provider in a child process started from this file
    await esbuild.build({
      ...common,
      entryPoints: [at('src/cli/check-child.ts')],
      outfile: at('dist/check-child.js'),
      platform: 'node',
      external: nodeExternals,
    });
    console.log('built dist/cli.js and dist/check-child.js');
  } else {
    console.log('skipped dist/cli.js: src/cli/main.ts does not exist yet');
  }

  await buildBrowser();

  const tsc = spawnSync(process.execPath, [at('node_modules/typescript/bin/tsc'), '-p', at('tsconfig.build.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error(`tsc (type declarations) failed with status ${tsc.status}`);
  console.log('built dist/types');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
