/** Text output of `deq check`: the parity table, one row per runtime, with the reference it is measured against. */
import { PARITY_COLUMN_LABELS as HEAD, PARITY_COLUMNS, type ParityColumn, type ParityReport, type ParityRow, type PlacementSummary } from '../onnx/parity.js';
const MAX_OPS = 8;

const sci = (x: number) => (x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(1) : String(x));
/** A setting as written on the command line: 1e-5 rather than 0.00001. */
const setting = (x: number) => (x !== 0 && Math.abs(x) < 1e-3 ? x.toExponential() : String(x));
const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

/** "webgpu: 486, cpu: 12 (Add, Cast, Loop); 38 copies": the most used provider first, the ops of the others listed. */
export function placementText(p: PlacementSummary | undefined, provider: string | undefined): string {
  if (!p) return '';
  if (p.source === 'only provider') return `${provider}: every node (the session's only provider)`;
  if (p.source === 'not recorded') return 'not recorded';
  const byCount = Object.entries(p.nodes).sort((a, b) => b[1] - a[1]);
  const parts = byCount.map(([prov, n], i) => {
    const ops = p.ops[prov] ?? [];
    const list = i === 0 ? '' : ` (${ops.slice(0, MAX_OPS).join(', ')}${ops.length > MAX_OPS ? ', …' : ''})`;
    return `${prov}: ${n}${list}`;
  });
  return `${parts.join(', ')}${p.copies ? `; ${p.copies} copies` : ''}`;
}

function cells(r: ParityRow, tolerance: number): string[] {
  if (r.status === 'absent') return [r.runtime, 'absent', `not present: ${r.reason}`];
  if (r.status === 'error') return [r.runtime, 'error', r.reason ?? ''];
  const num = (c: ParityColumn) => {
    const d = r.diff?.[c];
    if (d === null || d === undefined) return '—';
    return `${sci(d)}${d <= tolerance ? '' : '!'}`;
  };
  const iters = r.iterations ? `${r.iterations.forward}/${r.iterations.backward}${r.converged ? '' : '!'}` : '';
  const [f, vjp, zStar, dx, dtheta] = PARITY_COLUMNS.map(num);
  return [r.runtime, r.status, f!, vjp!, zStar!, iters, dx!, dtheta!, placementText(r.placement, r.provider)];
}

/** The report as text: what was checked, the table, the devices, and the verdict. */
export function parityTable(report: ParityReport, cellPath: string, inputsFrom: string): string {
  const c = report.cell;
  const ref = report.reference;
  const s = report.solve;
  const lines: string[] = [];
  lines.push(`deq check ${cellPath}: ${c.dtype} cell ${c.output} = f(${c.inputs.map((i) => i.name).join(', ')}), ` +
    `${c.inputs.map((i) => `${i.name} ${shape(i.shape)}`).join(', ')}, ${c.params.length} weight${c.params.length === 1 ? '' : 's'}; inputs ${inputsFrom}`);
  lines.push(`reference: float64 on ${ref.description}${ref.widened ? ' (the cell\'s float32 weights, constants and inputs converted to float64)' : ''}, ` +
    `solved to 1e-12: ${ref.iterations.forward} forward, ${ref.iterations.backward} backward iterations`);
  lines.push(`runtimes: ${s.solver} to ${setting(s.tol)} (backward ${setting(s.backwardTol)}), at most ${s.maxIter}/${s.backwardMaxIter} iterations; ` +
    `columns: max |a − ref| / max |ref| over each tensor, tolerance ${setting(report.tolerance)} (! over it); iters forward/backward`);
  lines.push('');
  const head = ['runtime', 'status', ...PARITY_COLUMNS.slice(0, 3).map((k) => HEAD[k]), 'iters', ...PARITY_COLUMNS.slice(3).map((k) => HEAD[k]), 'placement (nodes per provider)'];
  const rows = report.rows.map((r) => cells(r, report.tolerance));
  // absent and error rows run their reason across the table: they widen only the runtime and status columns
  const widths = head.map((h, i) => Math.max(h.length, ...rows.filter((r) => i < 2 || r.length === head.length).map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(widths[i]!))).join('  ').trimEnd();
  lines.push(line(head));
  for (const r of rows) lines.push(line(r));
  const devices = report.rows.filter((r) => r.device);
  if (devices.length) {
    lines.push('');
    for (const r of devices) lines.push(`${r.runtime}: ${r.description}, on ${r.device}`);
  }
  lines.push('');
  const ran = report.rows.filter((r) => r.status !== 'absent');
  const bad = ran.filter((r) => r.status !== 'ok');
  const absent = report.rows.length - ran.length;
  const absentNote = absent ? ` (${absent} not present)` : '';
  if (report.ok) lines.push(`ok: ${ran.length} runtime${ran.length === 1 ? '' : 's'} within ${setting(report.tolerance)} of the reference${absentNote}`);
  else if (!ran.length) lines.push(`FAIL: no runtime ran${absentNote}`);
  else for (const r of bad) lines.push(`FAIL ${r.runtime}: ${r.reason}`);
  return lines.join('\n');
}
