/** docs/onnx-ops.md is the table generated from the op declarations (regenerate: npx tsx scripts/onnx-ops-table.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { onnxOps } from '../src/onnx/ops/index.js';
import { differentiableInputs, supportedOpsTable } from '../src/onnx/ops/table.js';
import { CASES } from './helpers/onnx-op-cases.js';
import { differentiated } from './helpers/onnx-op-check.js';

describe('docs/onnx-ops.md', () => {
  it('is the table the op declarations generate', () => {
    const doc = readFileSync(new URL('../docs/onnx-ops.md', import.meta.url), 'utf8');
    expect(doc, 'docs/onnx-ops.md is stale: run npx tsx scripts/onnx-ops-table.ts').toBe(supportedOpsTable());
  });

  it('has one row per declared op', () => {
    const rows = supportedOpsTable().split('\n').filter((l) => /^\| [A-Z]/.test(l)).map((l) => l.split('|')[1]!.trim());
    expect(rows.sort()).toEqual([...onnxOps.keys()].sort());
  });

  it('every row is checked: each op has a case, and each input in its derivative column is differentiated by one', () => {
    const cases = Object.values(CASES).flat();
    const uncovered = [...onnxOps.keys()].filter((op) => !cases.some((c) => c.op === op));
    expect(uncovered, 'ops without a case in test/helpers/onnx-op-cases.ts').toEqual([]);
    const missing: string[] = [];
    for (const spec of onnxOps.values()) {
      const checked = new Set(cases.filter((c) => c.op === spec.op && c.grad !== false).flatMap((c) => {
        // case input names, mapped back to the declaration's names (variadic inputs share one)
        const names = differentiated(c);
        return c.inputs.flatMap((s, i) => (names.includes(s.name) ? [spec.inputs[Math.min(i, spec.inputs.length - 1)]!.name] : []));
      }));
      for (const i of differentiableInputs(spec)) if (!checked.has(i.name)) missing.push(`${spec.op}.${i.name}`);
    }
    expect(missing, 'derivative-column inputs no case differentiates').toEqual([]);
  });

  it('each op sits in the family whose test file runs its cases', () => {
    for (const [family, cases] of Object.entries(CASES)) {
      for (const c of cases) expect(onnxOps.get(c.op)?.family, c.op).toBe(family);
    }
  });
});
