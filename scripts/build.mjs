#!/usr/bin/env node
/**
 * Build: dist/index.js (Node, ESM), dist/cli.js (the `deq` command), dist/browser/deq-onnx.js
 * (browser, ESM) and the demo page's static folder dist/demo with esbuild, and type declarations
 * in dist/types with tsc.
 *
 * The browser bundle includes onnx-proto (CommonJS; browsers cannot import it as is) and the
 * other pure-JS dependencies, and leaves onnxruntime-web external: the page's import map or the
 * app's bundler resolves it, which lets the app choose its build (wasm or webgpu) and serve the
 * .wasm files next to it, and keeps this bundle small.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

/** The library sources the demo page may bundle itself: pure chart and table code, no library state. */
const DEMO_SHARED = ['src/cli/chart.ts', 'src/cli/svg.ts', 'src/cli/format.ts'];
/** onnxruntime-web's files the page loads: the WebGPU build (webgpu and wasm providers) and the wasm-only one. */
const ORT_FILES = ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm', 'ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
/** Headers for static hosts that read a _headers file (Netlify, Cloudflare Pages): threaded wasm needs them. */
const HEADERS = `/*
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
/*.wasm
  Content-Type: application/wasm
`;

/**
 * The demo page as a static folder, dist/demo: the page and its own small script (the library is
 * the browser bundle, imported through the page's import map), onnxruntime-web's files, and the
 * bundled digits packed into digits.bin. Needs dist/browser/deq-onnx.js.
 */
async function buildDemo() {
  const out = at('dist/demo');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'ort'), { recursive: true });
  const { metafile } = await esbuild.build({
    ...common,
    entryPoints: [at('demo/main.ts')],
    outfile: join(out, 'demo.js'),
    platform: 'browser',
    metafile: true,
    external: ['onnxruntime-web'],
    plugins: [{
      name: 'library-from-bundle',
      // the page's sources import the library's browser entry (for its types); the page loads the bundle
      setup: (b) => b.onResolve({ filter: /\/src\/browser\.js$/ }, () => ({ path: 'deq-onnx', external: true })),
    }],
  });
  // a second copy of library modules in the page would mean a second primitive registry and tracer
  const copied = Object.keys(metafile.inputs).filter((f) => f.startsWith('src/') && !DEMO_SHARED.includes(f));
  if (copied.length) throw new Error(`demo.js bundles library modules (${copied.join(', ')}); import them from src/browser.js instead`);
  for (const f of ['index.html', 'style.css']) copyFileSync(at(join('demo', f)), join(out, f));
  copyFileSync(at('dist/browser/deq-onnx.js'), join(out, 'deq-onnx.js'));
  copyFileSync(at('dist/browser/deq-onnx.js.map'), join(out, 'deq-onnx.js.map'));
  for (const f of ORT_FILES) copyFileSync(at(join('node_modules/onnxruntime-web/dist', f)), join(out, 'ort', f));
  writeFileSync(join(out, 'digits.bin'), await packedDigits());
  writeFileSync(join(out, '_headers'), HEADERS);
  console.log('built dist/demo');
}

/** The mnist package's digits packed (train.packDigits), by the library's own code bundled for Node. */
async function packedDigits() {
  const tmp = at('dist/.pack-digits.mjs');
  await esbuild.build({
    ...common,
    sourcemap: false,
    stdin: { contents: "export { readBundledDigits } from './src/train/data.ts'; export { packDigits } from './src/train/digits.ts';", resolveDir: root, loader: 'ts' },
    outfile: tmp,
    platform: 'node',
    external: nodeExternals,
  });
  try {
    const { packDigits, readBundledDigits } = await import(pathToFileURL(tmp).href);
    return packDigits(readBundledDigits());
  } finally {
    rmSync(tmp, { force: true });
  }
}

async function main() {
  // `node scripts/build.mjs browser` rebuilds only the browser bundle (the browser test uses it);
  // `node scripts/build.mjs demo` the browser bundle and the demo page (npm run demo, the demo test)
  if (process.argv[2] === 'browser') return buildBrowser();
  if (process.argv[2] === 'demo') {
    await buildBrowser();
    return buildDemo();
  }
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
  await buildDemo();

  const tsc = spawnSync(process.execPath, [at('node_modules/typescript/bin/tsc'), '-p', at('tsconfig.build.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error(`tsc (type declarations) failed with status ${tsc.status}`);
  console.log('built dist/types');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
