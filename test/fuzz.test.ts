/**
 * Fuzzing the ONNX entry points: seeded mutants of the project's .onnx files, of the PyTorch
 * fixtures and of a freshly exported solver graph (Loops in Loops) go through importOnnx (plus a
 * jitted run) and loadOnnx (plus one run), in two worker processes with capped memory and a per-case
 * time limit. A secret file sits in the workers' current directory and next to the models' folder,
 * and semantic mutants point external data at it. Every case must end in a typed error or a correct
 * result: no raw error, crash, hang, wrong result or secret read. The counts are printed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundle, root, runNode } from './helpers/child.js';
import { mutants, rng } from './helpers/fuzz-mutate.js';
import type { CaseReport, Manifest } from './helpers/fuzz-worker.js';
import { solverModel } from './helpers/solver-model.js';

const SEED = 20261125;
const WORKERS = 2;
/** Mutants per seed file: the solver graph's run in their own processes, so it gets fewer. */
const PER_SEED = { onnxModels: 32, fixtures: 30, solver: 28 };

type Final = CaseReport | { id: number; load: 'crash' | 'hang'; import: 'crash' | 'hang'; detail: string };

describe('fuzz: mutated .onnx files through importOnnx and loadOnnx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deq-fuzz-'));
  let script: string | undefined;
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    if (script) rmSync(script, { force: true });
  });

  it('every case ends in a typed error or a correct result', async () => {
    const cwd = join(dir, 'cwd');
    const models = join(dir, 'models');
    mkdirSync(cwd);
    mkdirSync(models);
    const secret = `DEQ-FUZZ-SECRET-${randomBytes(8).toString('hex')}`; // 32 bytes
    writeFileSync(join(cwd, 'secret.txt'), secret);
    writeFileSync(join(dir, 'secret.txt'), secret);
    const secretPaths = ['secret.txt', '../secret.txt', join(cwd, 'secret.txt'), join(dir, 'secret.txt'), 'sub/../secret.txt'];

    const seeds: Record<string, Uint8Array> = {};
    for (const f of readdirSync(join(root, 'onnx-models')).filter((f) => f.endsWith('.onnx'))) seeds[f] = readFileSync(join(root, 'onnx-models', f));
    for (const f of readdirSync(join(root, 'test/fixtures')).filter((f) => f.endsWith('.onnx'))) seeds[f] = readFileSync(join(root, 'test/fixtures', f));
    seeds['solver.onnx'] = (await solverModel()).bytes;

    const r = rng(SEED);
    const manifest: Manifest = { secretHex: Buffer.from(secret).toString('hex'), seeds: {}, cases: [] };
    for (const [name, bytes] of Object.entries(seeds)) {
      const file = join(models, `seed-${name}`);
      writeFileSync(file, bytes);
      manifest.seeds[name] = file;
      const n = name === 'solver.onnx' ? PER_SEED.solver : name.startsWith('torch_') ? PER_SEED.fixtures : PER_SEED.onnxModels;
      // the solver graph's Loops also get endless trip counts: their runs must be stopped, not hang
      const always = name === 'solver.onnx' ? ['looptrips', 'looptrips', 'looptrips', 'external'] : ['external'];
      for (const m of mutants(bytes, n, r, secretPaths, always)) {
        const id = manifest.cases.length;
        const caseFile = join(models, `case-${id}-${m.kind}.onnx`);
        writeFileSync(caseFile, m.bytes);
        manifest.cases.push({ id, seed: name, kind: m.kind, file: caseFile });
      }
    }
    const manifestPath = join(dir, 'manifest.json');
    writeFileSync(manifestPath, JSON.stringify(manifest));
    script = await bundle('test/helpers/fuzz-worker.ts');

    const finals = new Map<number, Final>();
    const outputs: string[] = [];
    /** Run cases [from, to) in one process after another: a crash or a hang ends that case, the rest go on. */
    const runSlice = async (from: number, to: number) => {
      let next = from;
      while (next < to) {
        let current: number | undefined;
        const res = await runNode(script!, [manifestPath, String(next), String(to)], {
          cwd,
          memoryMB: 3072,
          heapMB: 768,
          timeoutMs: 600_000,
          idleMs: 60_000,
          onLine: (line) => {
            const msg = JSON.parse(line) as { start?: number } & Partial<CaseReport>;
            if (msg.start !== undefined) current = msg.start;
            else if (msg.id !== undefined) {
              finals.set(msg.id, msg as CaseReport);
              current = undefined;
            }
          },
        });
        outputs.push(res.stdout, res.stderr);
        if (current === undefined) {
          expect(res.code, `worker exited with ${res.code} ${res.signal}: ${res.stderr.slice(-500)}`).toBe(0);
          break;
        }
        const how = res.timedOut ? 'hang' : 'crash';
        finals.set(current, { id: current, load: how, import: how, detail: `${res.signal ?? res.code}: ${res.stderr.slice(-300)}` });
        next = current + 1;
      }
    };
    const n = manifest.cases.length;
    const per = Math.ceil(n / WORKERS);
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => runSlice(w * per, Math.min(n, (w + 1) * per))));

    const tally = (api: 'load' | 'import') => {
      const t: Record<string, number> = {};
      for (const f of finals.values()) t[f[api]] = (t[f[api]] ?? 0) + 1;
      return t;
    };
    const byKind: Record<string, Record<string, number>> = {};
    for (const c of manifest.cases) {
      const f = finals.get(c.id);
      const k = (byKind[c.kind] ??= {});
      const key = `${f?.load}/${f?.import}`;
      k[key] = (k[key] ?? 0) + 1;
    }
    console.log(`fuzz: ${n} mutants of ${Object.keys(seeds).length} seed files (seed ${SEED})`);
    console.log(`  loadOnnx + run:   ${JSON.stringify(tally('load'))}`);
    console.log(`  importOnnx + jit: ${JSON.stringify(tally('import'))}`);
    console.log(`  by mutation (load/import): ${JSON.stringify(byKind)}`);
    const stopped = [...finals.values()].filter((f) => /ran past timeoutMs/.test(f.detail ?? '')).length;
    const external = [...finals.values()].filter((f) => /external file/.test(f.detail ?? '')).length;
    console.log(`  runs stopped by their time limit: ${stopped}; refused for external data: ${external}`);
    const bad = [...finals.values()].filter((f) => !['typed', 'result', 'not-run'].includes(f.load) || !['typed', 'result', 'not-run', 'import-only'].includes(f.import));
    for (const f of [...finals.values()].filter((x) => x.import === 'import-only')) {
      console.log(`  importOnnx computes, onnxruntime refuses: case ${f.id} (${manifest.cases[f.id]!.kind} of ${manifest.cases[f.id]!.seed}): ${f.detail}`);
    }
    for (const f of bad) console.log(`  case ${f.id} (${manifest.cases[f.id]!.kind} of ${manifest.cases[f.id]!.seed}): load ${f.load}, import ${f.import}: ${f.detail}`);

    expect(finals.size).toBe(n);
    expect(bad.map((f) => `${f.id} ${manifest.cases[f.id]!.kind}: ${f.load}/${f.import}: ${f.detail}`)).toEqual([]);
    for (const o of outputs) expect(o).not.toContain(secret);
    // the fuzz reaches both ends: files refused and files that run
    expect(tally('load').typed).toBeGreaterThan(n / 4);
    expect(tally('load').result).toBeGreaterThan(n / 10);
  });
});
