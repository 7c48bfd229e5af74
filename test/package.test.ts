/**
 * The package as users install it: a fresh build of a copy of this repository is packed with
 * `npm pack`, the tarball installed into a new project, a strict TypeScript consumer of 'deq-onnx'
 * and 'deq-onnx/extend' type-checked against the shipped declarations and run, and `npx deq --help`.
 *
 * Offline: a dead proxy makes any download (onnxruntime-node's CUDA provider included) fail. A new
 * project's `npm install` would need the registry's package metadata, but `npm ci --offline` needs
 * only tarballs, which npm's cache holds once `npm ci` has run here; so the new project gets a
 * lockfile made of this repository's production entries and the packed tarball, whose declared
 * dependencies must then hold everything the consumer needs.
 *
 * Slow: one to three minutes, most of it npm unpacking onnxruntime-node and onnxruntime-web
 * (~430 MB). So it runs under CI=true (.ci/run) or `npm run test:package`, and a plain `npm test`
 * skips it with a message.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedPoint, jit, np, Rng, type Tensor, type Value } from '../src/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; allowScripts?: Record<string, boolean> };
const DEAD_PROXY = 'http://127.0.0.1:9';
/** npm and anything it starts, with every proxy variable pointing nowhere. */
const offlineEnv = {
  ...process.env,
  https_proxy: DEAD_PROXY, HTTPS_PROXY: DEAD_PROXY, http_proxy: DEAD_PROXY, HTTP_PROXY: DEAD_PROXY,
  GLOBAL_AGENT_HTTPS_PROXY: DEAD_PROXY, GLOBAL_AGENT_HTTP_PROXY: DEAD_PROXY,
  npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false',
};
delete (offlineEnv as Record<string, string | undefined>).ONNXRUNTIME_NODE_INSTALL;

function run(cmd: string, args: string[], cwd: string, timeout = 240_000): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, env: offlineEnv, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed with ${r.status ?? r.signal}:\n${r.stderr}\n${r.stdout}`.slice(-4000));
  return { stdout: r.stdout, stderr: r.stderr };
}

/** The repository's files as git sees them (tracked or not ignored), copied: what a fresh checkout packs. */
function copyCheckout(to: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed in ${root}: ${listed.stderr}`);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    mkdirSync(dirname(join(to, file)), { recursive: true });
    try {
      cpSync(join(root, file), join(to, file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // deleted in the work tree, not yet in git
    }
  }
}

interface LockEntry { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; [k: string]: unknown }

/**
 * A lockfile for a project that depends on the packed tarball alone: the tarball, and the entries
 * of this repository's lockfile that its declared dependencies reach (found as Node finds them:
 * the nearest node_modules folder up from the package that needs them), so nothing undeclared
 * is installed.
 */
function consumerLock(tarball: string, integrity: string, pkg: { dependencies?: Record<string, string>; [k: string]: unknown }): unknown {
  const repoLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { 'deq-onnx': spec } },
    'node_modules/deq-onnx': { version: pkg.version, resolved: spec, integrity, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  const find = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dir.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, '')) {
      const path = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (repoLock.packages[path]) return path;
      if (!dir) return undefined;
    }
  };
  const visit = (from: string, deps: Record<string, string> | undefined, optional: boolean) => {
    for (const name of Object.keys(deps ?? {})) {
      const path = find(from, name);
      if (!path) {
        if (optional) continue;
        throw new Error(`package-lock.json has no ${name} for ${from || 'deq-onnx'}; run npm install`);
      }
      if (packages[path]) continue;
      const entry = repoLock.packages[path]!;
      packages[path] = entry;
      visit(path, entry.dependencies, false);
      visit(path, entry.optionalDependencies, true);
    }
  };
  // deq-onnx's dependencies sit at the top, where a fresh install puts them
  visit('', pkg.dependencies, false);
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

const CONSUMER = `import { fixedPoint, jit, np, Rng, type Tensor, type Value } from 'deq-onnx';
import { nodePlacement, primitives, type NodePlacement } from 'deq-onnx/extend';

const cell = (z: Value, x: Value, W: Value): Value => np.tanh(np.add(np.matmul(z, W), x));
const rng = new Rng(7);
const W: Tensor = rng.randn([6, 6], 'float32', 0.2);
const x: Tensor = rng.randn([3, 6], 'float32');
const solve = jit((x: Value, W: Value) => fixedPoint(cell, np.zerosLike(x), [x, W], { solver: 'anderson', tol: 1e-5 }).value);
const z = (await solve(x, W)) as Tensor;
const view = z.view();
const placed: NodePlacement[] = (await nodePlacement((await solve.compile(x, W)).model, [x, W])).nodes;
console.log(JSON.stringify({ z: z.toArray(), corner: view.get(2, 5), shape: view.shape, hasTanh: primitives().has('tanh'), providers: [...new Set(placed.map((n) => n.provider))] }));
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
    // the shipped declarations are checked too, and must not lean on @types/node
    skipLibCheck: false, types: [], outDir: 'out', rootDir: 'src',
  },
  include: ['src'],
};

const wanted = /^(1|true|yes)$/i.test(process.env.CI ?? '') || process.env.DEQ_PACKAGE_TEST === '1';
if (!wanted) console.warn('test/package.test.ts skipped: it packs, installs and runs the package (minutes); run it with npm run test:package, or CI=true');

describe.runIf(wanted)('the packed package, installed into a new project (one to three minutes)', () => {
  let work: string;
  let packed: { files: { path: string }[]; filename: string; integrity: string };
  let packStderr: string;
  let consumer: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'deq-package-'));
    const stage = join(work, 'repo');
    copyCheckout(stage);
    symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');
    run(process.execPath, ['scripts/build.mjs'], stage);
    const pack = run('npm', ['pack', '--json', '--pack-destination', work], stage);
    packStderr = pack.stderr;
    packed = (JSON.parse(pack.stdout) as (typeof packed)[])[0]!;

    consumer = join(work, 'consumer');
    mkdirSync(join(consumer, 'src'), { recursive: true });
    const tarball = `../${packed.filename}`;
    // a user's project: the README's advice for machines that cannot reach onnxruntime's CUDA
    // download is the same allowScripts entry this repository uses
    writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({
      name: 'consumer', private: true, type: 'module', dependencies: { 'deq-onnx': `file:${tarball}` }, allowScripts: rootPackage.allowScripts,
    }, null, 2)}\n`);
    const shipped = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify(consumerLock(tarball, packed.integrity, shipped), null, 2));
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(consumer, 'src', 'index.ts'), CONSUMER);
    run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], consumer, 400_000);
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the build, the exported models, README and LICENSE, and nothing else', () => {
    const files = packed.files.map((f) => f.path).sort();
    const stray = files.filter((f) => !/^(dist|onnx-models)\//.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f));
    expect(stray).toEqual([]);
    for (const f of ['dist/index.js', 'dist/extend.js', 'dist/cli.js', 'dist/browser/deq-onnx.js', 'dist/types/index.d.ts', 'dist/types/extend.d.ts', 'onnx-models/manifest.json', 'README.md', 'LICENSE']) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => f.endsWith('.test.ts') || f.startsWith('src/'))).toBe(false);
    // the demo page's static folder (50 MB with onnxruntime-web's wasm files) is for hosting, not for the package
    expect(files.filter((f) => f.startsWith('dist/demo/'))).toEqual([]);
  });

  it('npm reads this repository’s settings without a warning about them', () => {
    expect(packStderr).not.toMatch(/Unknown (project|user|env) config/);
  });

  it('installs offline from the CUDA host, type-checks a strict consumer against the shipped declarations, and runs it', async () => {
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules', 'deq-onnx', 'package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(rootPackage.version);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer);
    const out = execFileSync(process.execPath, ['out/index.js'], { cwd: consumer, env: offlineEnv, encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { z: number[]; corner: number; shape: number[]; hasTanh: boolean; providers: string[] };
    // the same solve through this checkout's sources
    const rng = new Rng(7);
    const W = rng.randn([6, 6], 'float32', 0.2);
    const x = rng.randn([3, 6], 'float32');
    const cell = (z: Value, x: Value, W: Value) => np.tanh(np.add(np.matmul(z, W), x));
    const z = (await jit((x: Value, W: Value) => fixedPoint(cell, np.zerosLike(x), [x, W], { solver: 'anderson', tol: 1e-5 }).value)(x, W)) as Tensor;
    expect(r.z).toEqual(z.toArray());
    expect(r.corner).toBe(z.toArray()[17]);
    expect(r.shape).toEqual([3, 6]);
    expect(r.hasTanh).toBe(true);
    expect(r.providers).toEqual(['CPUExecutionProvider']);
  });

  it('npx deq --help runs the installed command', () => {
    const { stdout } = run('npx', ['--offline', '--no-install', 'deq', '--help'], consumer);
    expect(stdout).toMatch(/Usage: deq/);
    for (const c of ['train', 'plot', 'export']) expect(stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });
});
