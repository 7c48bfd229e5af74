/**
 * Summarise training runs: for each run folder (from `deq train --out DIR`, with `deq eval --out DIR
 * --json > DIR/eval.json` beside it) its validation and test error and forward iterations, and per
 * group of runs (folders named NAME-sSEED) the mean and spread (min–max) over seeds.
 *
 *   npx tsx bench/runs.ts runs/base-s0 runs/base-s1 ... [--markdown]
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface Metrics {
  history: { valError: number; forwardIters: number; backwardIters: number; valForwardIters: number; seconds: number; jacPenalty?: number }[];
  test: { error: number; forwardIters: number };
}
interface Eval { iterations: { median: number; mean: number; p90: number; max: number }; notConvergedShare: number }

const args = process.argv.slice(2);
const markdown = args.includes('--markdown');
const dirs = args.filter((a) => a !== '--markdown');
const notRuns = dirs.filter((d) => !existsSync(`${d}/metrics.json`));
if (notRuns.length) {
  console.error(`not run folders of deq train (no metrics.json): ${notRuns.join(', ')}`);
  process.exit(2);
}
if (dirs.length === 0) {
  console.error('usage: npx tsx bench/runs.ts RUN_DIR... [--markdown]  (run folders of deq train, each with eval.json from deq eval --json)');
  process.exit(2);
}

const row = (dir: string) => {
  const m = JSON.parse(readFileSync(`${dir}/metrics.json`, 'utf8')) as Metrics;
  const evalPath = `${dir}/eval.json`;
  const e = existsSync(evalPath) ? (JSON.parse(readFileSync(evalPath, 'utf8')) as Eval) : undefined;
  const last = m.history[m.history.length - 1]!;
  return {
    run: basename(dir),
    group: basename(dir).replace(/-s\d+$/, ''),
    valError: last.valError * 100,
    testError: m.test.error * 100,
    trainFwd: last.forwardIters,
    trainBwd: last.backwardIters,
    testFwdBatch: m.test.forwardIters,
    testFwdSample: e?.iterations.mean ?? NaN,
    testFwdP90: e?.iterations.p90 ?? NaN,
    notConverged: (e?.notConvergedShare ?? NaN) * 100,
    jacPenalty: last.jacPenalty ?? NaN,
    seconds: m.history.reduce((a, h) => a + h.seconds, 0),
  };
};
type Row = ReturnType<typeof row>;
const rows = dirs.map(row);
const cols: [keyof Row, string, number][] = [
  ['valError', 'val err %', 2], ['testError', 'test err %', 2], ['trainFwd', 'fwd it train', 1], ['trainBwd', 'bwd it train', 1],
  ['testFwdBatch', 'fwd it test (batch 500)', 1], ['testFwdSample', 'fwd it test (per sample)', 2], ['testFwdP90', 'p90 per sample', 0],
  ['notConverged', 'not conv. %', 2], ['jacPenalty', 'jac penalty', 4], ['seconds', 's', 0],
];
const fmt = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : '-');

const print = (head: string[], body: string[][]) => {
  if (markdown) {
    console.log(`| ${head.join(' | ')} |`);
    console.log(`|${head.map(() => '---').join('|')}|`);
    for (const r of body) console.log(`| ${r.join(' | ')} |`);
  } else {
    const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
    console.log(head.map((h, i) => h.padStart(w[i]!)).join('  '));
    for (const r of body) console.log(r.map((c, i) => c.padStart(w[i]!)).join('  '));
  }
  console.log('');
};

print(['run', ...cols.map(([, h]) => h)], rows.map((r) => [r.run, ...cols.map(([k, , d]) => fmt(r[k] as number, d))]));

const groups = [...new Set(rows.map((r) => r.group))];
print(['group (seeds)', ...cols.map(([, h]) => h)], groups.map((g) => {
  const rs = rows.filter((r) => r.group === g);
  return [`${g} (${rs.length})`, ...cols.map(([k, , d]) => {
    const vs = rs.map((r) => r[k] as number);
    const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
    return rs.length > 1 ? `${fmt(mean, d)} (${fmt(Math.min(...vs), d)}–${fmt(Math.max(...vs), d)})` : fmt(mean, d);
  })];
}));
