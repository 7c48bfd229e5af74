/**
 * The fuzz test's worker, run (bundled) in a child process with capped memory: for each mutant in
 * its slice of the manifest it runs importOnnx (and the imported model, jitted) and loadOnnx (and
 * one run), and prints one JSON line of outcomes. Before each case it prints `{"start": id}`, so the
 * parent can name the case that crashed or hung the process.
 *
 * A result is correct when it has the outputs the model declares (names, dtypes, static dims), when
 * it equals the unmutated model's where the mutant decodes to the same model, and, for importOnnx,
 * when it matches what onnxruntime computes for the same file. Models with subgraphs run in their
 * own process with a time limit (isolate), as untrusted models should.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DeqError, importOnnx, jit, loadOnnx, Tensor, type Value } from '../../src/index.js';
import { canonicalBytes, decodeModel, type TensorInfo } from '../../src/onnx/proto.js';
import { allGraphs } from '../../src/onnx/walk.js';

export interface Manifest {
  secretHex: string;
  seeds: Record<string, string>;
  cases: { id: number; seed: string; kind: string; file: string }[];
}
export type Outcome = 'typed' | 'result' | 'raw' | 'wrong' | 'leak' | 'not-run' | 'import-only';
export interface CaseReport {
  id: number;
  load: Outcome;
  import: Outcome;
  detail?: string;
}

const [manifestPath, from, to] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(manifestPath!, 'utf8')) as Manifest;
const secret = Buffer.from(manifest.secretHex, 'hex');
const MAX_INPUT_ELEMENTS = 1 << 22;

const say = (x: unknown) => process.stdout.write(`${JSON.stringify(x)}\n`);
const isTyped = (e: unknown) => e instanceof DeqError;
const describe = (e: unknown) => `${(e as Error)?.constructor?.name}: ${String((e as Error)?.message ?? e).slice(0, 300)}`;

function inputsFor(infos: readonly TensorInfo[]): Tensor[] | undefined {
  const shapes = infos.map((i) => i.shape.map((d) => d ?? 1));
  if (shapes.some((s) => s.reduce((a, b) => a * b, 1) > MAX_INPUT_ELEMENTS)) return undefined;
  return infos.map((info, k) => {
    const t = new Tensor(info.dtype, shapes[k]!);
    if (info.dtype === 'float32' || info.dtype === 'float64') for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] = 0.5 * Math.sin(i + 1 + k);
    return t;
  });
}

const bytesOf = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const leaks = (ts: readonly Tensor[]) => ts.some((t) => bytesOf(t).includes(secret.subarray(0, 8)));

/** Outputs with the declared names, dtypes and static dims. */
function declared(outs: Record<string, Tensor>, infos: readonly TensorInfo[]): string | undefined {
  const names = Object.keys(outs);
  if (names.length !== infos.length || infos.some((i) => !(i.name in outs))) return `outputs [${names}] but the model declares [${infos.map((i) => i.name)}]`;
  for (const i of infos) {
    const t = outs[i.name]!;
    if (!(t instanceof Tensor) || t.dtype !== i.dtype) return `output ${i.name} is ${t?.dtype}, declared ${i.dtype}`;
    if (i.anyRank) continue;
    if (t.shape.length !== i.shape.length || i.shape.some((d, k) => d !== null && d !== t.shape[k])) return `output ${i.name} has shape [${t.shape}], declared [${i.shape}]`;
  }
  return undefined;
}

function close(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  const x = a.toArray();
  const y = b.toArray();
  return x.every((v, i) => {
    const w = y[i]!;
    if (Number.isNaN(v) || Number.isNaN(w)) return Number.isNaN(v) && Number.isNaN(w);
    if (!Number.isFinite(v) || !Number.isFinite(w)) return v === w;
    return Math.abs(v - w) <= 1e-4 * (1 + Math.abs(w));
  });
}
const exact = (a: Tensor, b: Tensor) => a.dtype === b.dtype && a.shape.join() === b.shape.join() && bytesOf(a).equals(bytesOf(b));

const hash = (bytes: Uint8Array): string | undefined => {
  try {
    return createHash('sha1').update(canonicalBytes(decodeModel(bytes, 'x'))).digest('hex');
  } catch {
    return undefined;
  }
};

/** Models with subgraphs (Loop, If, Scan) may run for ever: those run in their own process, stoppable. */
function needsIsolation(bytes: Uint8Array): boolean {
  try {
    return allGraphs(decodeModel(bytes, 'x')).length > 1;
  } catch {
    return false;
  }
}

type Ran = { outcome: Outcome; outputs?: Record<string, Tensor>; detail?: string };

async function viaLoad(file: string, bytes: Uint8Array): Promise<Ran> {
  const opts = needsIsolation(bytes) ? { isolate: { maxMemoryMB: 1536 }, timeoutMs: 1000 } : {};
  let m;
  try {
    m = await loadOnnx(file, opts);
  } catch (e) {
    return { outcome: isTyped(e) ? 'typed' : 'raw', detail: describe(e) };
  }
  try {
    const xs = inputsFor(m.inputs);
    if (!xs) return { outcome: 'not-run', detail: 'declared inputs over the harness budget' };
    const outs = await m.run(xs);
    if (leaks(Object.values(outs))) return { outcome: 'leak', detail: 'secret bytes in an output' };
    const bad = declared(outs, m.outputs);
    return bad ? { outcome: 'wrong', detail: bad } : { outcome: 'result', outputs: outs };
  } catch (e) {
    return { outcome: isTyped(e) ? 'typed' : 'raw', detail: describe(e) };
  } finally {
    await m.release();
  }
}

async function viaImport(file: string, bytes: Uint8Array): Promise<Ran> {
  let m;
  try {
    m = importOnnx(bytes, file);
  } catch (e) {
    return { outcome: isTyped(e) ? 'typed' : 'raw', detail: describe(e) };
  }
  const xs = inputsFor(m.inputs);
  if (!xs) return { outcome: 'not-run', detail: 'declared inputs over the harness budget' };
  const f = jit((...args: Value[]) => m.fn(...args), { name: 'imported' });
  try {
    const outs = (await f(...xs)) as Tensor[];
    const named = Object.fromEntries(m.outputs.map((o, i) => [o.name, outs[i]!]));
    if (leaks(outs)) return { outcome: 'leak', detail: 'secret bytes in an output' };
    const bad = declared(named, m.outputs);
    return bad ? { outcome: 'wrong', detail: bad } : { outcome: 'result', outputs: named };
  } catch (e) {
    return { outcome: isTyped(e) ? 'typed' : 'raw', detail: describe(e) };
  } finally {
    await f.release();
  }
}

const baselines = new Map<string, { hash?: string; outputs?: Record<string, Tensor> }>();
async function baseline(seed: string) {
  let b = baselines.get(seed);
  if (!b) {
    const file = manifest.seeds[seed]!;
    const bytes = readFileSync(file);
    b = { hash: hash(bytes), outputs: (await viaLoad(file, bytes)).outputs };
    baselines.set(seed, b);
  }
  return b;
}

for (const c of manifest.cases.slice(Number(from), Number(to))) {
  say({ start: c.id });
  const bytes = new Uint8Array(readFileSync(c.file));
  const load = await viaLoad(c.file, bytes);
  const imp = await viaImport(c.file, bytes);
  const report: CaseReport = { id: c.id, load: load.outcome, import: imp.outcome };
  const details = [load.detail && `load: ${load.detail}`, imp.detail && `import: ${imp.detail}`].filter(Boolean);
  if (load.outcome === 'result') {
    const base = await baseline(c.seed);
    // a mutant that decodes to the unmutated model must compute exactly what it does
    if (base.hash && base.hash === hash(bytes) && base.outputs) {
      const same = Object.keys(base.outputs).every((k) => load.outputs![k] && exact(load.outputs![k]!, base.outputs![k]!));
      if (!same) report.load = 'wrong';
      if (!same) details.push('load: differs from the unmutated model');
    }
  }
  if (imp.outcome === 'result') {
    if (load.outcome === 'result') {
      const differ = Object.keys(imp.outputs!).filter((k) => !load.outputs![k] || !close(imp.outputs![k]!, load.outputs![k]!));
      if (differ.length) {
        report.import = 'wrong';
        details.push(`import: ${differ.join(', ')} differ from onnxruntime's`);
      }
    } else if (load.outcome === 'typed') report.import = 'import-only';
  }
  if (details.length) report.detail = details.join(' | ');
  say(report);
}
