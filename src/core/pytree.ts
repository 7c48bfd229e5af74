import { TraceError } from './errors.js';

/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors (or tracers, or numbers).
 * Params and gradients are pytrees. Object keys are visited in sorted order so that two
 * objects with the same keys flatten the same way whatever order they were written in.
 */
export type TreeDef =
  | { kind: 'leaf' }
  | { kind: 'none' }
  | { kind: 'array'; children: TreeDef[] }
  | { kind: 'object'; keys: string[]; children: TreeDef[] };

export type IsLeaf = (x: unknown) => boolean;

const isPlainObject = (x: unknown): x is Record<string, unknown> => {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
};

// shared, immutable nodes: flattening is on every jitted call's path
const LEAF: TreeDef = Object.freeze({ kind: 'leaf' });
const NONE: TreeDef = Object.freeze({ kind: 'none' });

export function treeFlatten<L = unknown>(tree: unknown): [L[], TreeDef] {
  const leaves: L[] = [];
  const walk = (x: unknown): TreeDef => {
    if (x === undefined || x === null) return NONE;
    if (Array.isArray(x)) return { kind: 'array', children: x.map(walk) };
    if (isPlainObject(x)) {
      const keys = Object.keys(x).sort();
      return { kind: 'object', keys, children: keys.map((k) => walk(x[k])) };
    }
    leaves.push(x as L);
    return LEAF;
  };
  const def = walk(tree);
  return [leaves, def];
}

export function treeUnflatten<T = unknown>(def: TreeDef, leaves: readonly unknown[]): T {
  let i = 0;
  const build = (d: TreeDef): unknown => {
    switch (d.kind) {
      case 'leaf':
        if (i >= leaves.length) throw new TraceError('treeUnflatten: too few leaves for the tree structure');
        return leaves[i++];
      case 'none': return undefined;
      case 'array': return d.children.map(build);
      case 'object': {
        const o: Record<string, unknown> = {};
        d.keys.forEach((k, j) => { o[k] = build(d.children[j]!); });
        return o;
      }
    }
  };
  const out = build(def);
  if (i !== leaves.length) throw new TraceError(`treeUnflatten: ${leaves.length} leaves given, structure takes ${i}`);
  return out as T;
}

export const treeLeaves = <L = unknown>(tree: unknown): L[] => treeFlatten<L>(tree)[0];

export function treeMap<R>(fn: (leaf: any, ...rest: any[]) => R, tree: unknown, ...rest: unknown[]): unknown {
  const [leaves, def] = treeFlatten(tree);
  const others = rest.map((r) => {
    const [l, d] = treeFlatten(r);
    if (treeDefKey(d) !== treeDefKey(def)) throw new TraceError('treeMap: trees have different structures');
    return l;
  });
  return treeUnflatten(def, leaves.map((l, i) => fn(l, ...others.map((o) => o[i]))));
}

/** A string key for a tree structure (used in jit cache signatures). */
export function treeDefKey(def: TreeDef): string {
  switch (def.kind) {
    case 'leaf': return '*';
    case 'none': return '_';
    case 'array': return `[${def.children.map(treeDefKey).join(',')}]`;
    case 'object': return `{${def.keys.map((k, i) => `${JSON.stringify(k)}:${treeDefKey(def.children[i]!)}`).join(',')}}`;
  }
}

/**
 * A name for each leaf of a tree structure, in leaf order: the keys and indices on the way down,
 * joined by dots under `root` (`params.W`, `grads.0`); a bare leaf is `root` itself. Graph input
 * and output names come from here, so names always pair with the leaves treeFlatten yields.
 */
export function treePaths(def: TreeDef, root = ''): string[] {
  const walk = (d: TreeDef, path: string): string[] => {
    switch (d.kind) {
      case 'leaf': return [path];
      case 'none': return [];
      case 'array': return d.children.flatMap((c, i) => walk(c, path ? `${path}.${i}` : `${i}`));
      case 'object': return d.children.flatMap((c, i) => walk(c, path ? `${path}.${d.keys[i]}` : d.keys[i]!));
    }
  };
  return walk(def, root);
}

export const leafCount = (def: TreeDef): number =>
  def.kind === 'leaf' ? 1 : def.kind === 'none' ? 0 : def.children.reduce((a, c) => a + leafCount(c), 0);

/**
 * Collect the leaves of `tree` into `out` if it has exactly the structure `def`; false otherwise.
 * Allocates no tree nodes: repeated calls with a known structure take this path.
 */
export function matchLeaves(def: TreeDef, tree: unknown, out: unknown[]): boolean {
  switch (def.kind) {
    case 'leaf':
      if (tree === undefined || tree === null || Array.isArray(tree) || isPlainObject(tree)) return false;
      out.push(tree);
      return true;
    case 'none':
      return tree === undefined || tree === null;
    case 'array': {
      if (!Array.isArray(tree) || tree.length !== def.children.length) return false;
      for (let i = 0; i < tree.length; i++) if (!matchLeaves(def.children[i]!, tree[i], out)) return false;
      return true;
    }
    case 'object': {
      if (!isPlainObject(tree)) return false;
      let n = 0;
      for (const k in tree) if (Object.prototype.hasOwnProperty.call(tree, k)) n++;
      if (n !== def.keys.length) return false;
      for (let i = 0; i < def.keys.length; i++) {
        const k = def.keys[i]!;
        if (!Object.prototype.hasOwnProperty.call(tree, k) || !matchLeaves(def.children[i]!, tree[k], out)) return false;
      }
      return true;
    }
  }
}
