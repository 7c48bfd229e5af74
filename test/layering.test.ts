/**
 * The architecture as a test: every import in src/ points down the layers (or stays in its own
 * folder), and no files import each other in a circle. The layers, bottom to top:
 *   core → util → backend | ops → transforms → control → np → solvers → onnx → nn → train → cli → entries
 * backend (IR → ONNX, sessions) and ops (primitives) share a rank, so neither may import the other.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = resolve(__dirname, '..', 'src');

const RANK: Record<string, number> = {
  core: 0, util: 1, backend: 2, ops: 2, transforms: 3, control: 4, 'np.ts': 5, solvers: 6, onnx: 7, nn: 8, train: 9, cli: 10,
};
// index.ts, browser.ts, api.ts, extend.ts: the package's entry points, one layer on top
const ENTRIES = { name: 'entries', rank: 11 };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The layer of a file: its top folder under src/, or the file itself when it sits in src/. */
function layer(file: string): { name: string; rank: number } {
  const top = relative(src, file).split(/[\\/]/)[0]!;
  if (RANK[top] !== undefined) return { name: top, rank: RANK[top]! };
  return top.endsWith('.ts') ? ENTRIES : { name: top, rank: NaN };
}

/**
 * Relative imports of a file (static, re-exports and dynamic), resolved to .ts paths. With
 * `runtimeOnly`, `import type` lines are left out: they vanish when compiled, so they cannot make
 * a module load before its dependencies (they still have to point down).
 */
function importsOf(file: string, runtimeOnly: boolean): string[] {
  const text = readFileSync(file, 'utf8');
  const re = /(import\s+type\s[^;]*?from\s+|export\s+type\s[^;]*?from\s+|from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g;
  const specs = [...text.matchAll(re)].filter((m) => !(runtimeOnly && /^(import|export)\s+type\s/.test(m[1]!))).map((m) => m[2]!);
  return specs.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

/** The imports of `g` that break the layering: each points up a layer, or across to a layer of equal rank. */
function upwardImports(g: ReadonlyMap<string, readonly string[]>): string[] {
  const upward: string[] = [];
  for (const [f, deps] of g) {
    const a = layer(f);
    for (const d of deps) {
      const b = layer(d);
      if (a.name === b.name) continue;
      if (!(b.rank < a.rank)) upward.push(`${relative(src, f)} → ${relative(src, d)} (${a.name} may not import ${b.name})`);
    }
  }
  return upward;
}

const all = files(src);
const graph = new Map(all.map((f) => [f, importsOf(f, false)]));
const runtimeGraph = new Map(all.map((f) => [f, importsOf(f, true)]));

describe('layering', () => {
  it('knows the layer of every source file', () => {
    const unknown = all.filter((f) => Number.isNaN(layer(f).rank)).map((f) => relative(src, f));
    expect(unknown).toEqual([]);
  });

  it('every import points down a layer or stays in its folder', () => {
    expect(upwardImports(graph)).toEqual([]);
  });

  it('imports resolve to files that exist', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${relative(src, f)} → ${relative(src, d)}`));
    expect(missing).toEqual([]);
  });

  it('no files import each other in a circle (at run time)', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of runtimeGraph.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].map((x) => relative(src, x)).join(' → '));
        else if (!state.has(d) && runtimeGraph.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of all) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('the layer rule catches an upward import and accepts a downward one (self-check)', () => {
    const at = (...p: string[]) => join(src, ...p);
    // ops importing transforms is the kind of mistake the rule exists for
    expect(upwardImports(new Map([[at('ops', 'shape.ts'), [at('transforms', 'jvp.ts')]]]))).toEqual([
      `${join('ops', 'shape.ts')} → ${join('transforms', 'jvp.ts')} (ops may not import transforms)`,
    ]);
    // backend and ops share a rank: neither may import the other
    expect(upwardImports(new Map([[at('backend', 'lower.ts'), [at('ops', 'shape.ts')]]]))).toHaveLength(1);
    // downward, and within a folder: accepted
    expect(upwardImports(new Map([[at('transforms', 'jvp.ts'), [at('ops', 'shape.ts'), at('core', 'trace.ts'), at('transforms', 'grad.ts')]]]))).toEqual([]);
    expect(upwardImports(new Map([[at('index.ts'), [at('cli', 'main.ts')]]]))).toEqual([]);
  });
});
