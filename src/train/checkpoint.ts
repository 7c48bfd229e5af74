/**
 * Checkpoints: one file, "DEQCKPT1" + uint32 header length + JSON header + 8-byte aligned tensor
 * bytes (little-endian, as typed arrays hold them on every platform onnxruntime supports).
 * The header holds each pytree's structure (a TreeDef is plain JSON) and where its tensors are,
 * so any pytree of tensors and numbers round-trips. Files are written atomically.
 *
 * Reading trusts nothing: the header is checked field by field against the schema below, every
 * tensor's byte range against the data actually present, before anything is allocated.
 */
import { readFileSync, statSync } from 'node:fs';
import { writeAtomic } from '../util/fs.js';
import * as E from 'fp-ts/lib/Either.js';
import { allocate, type DType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import { leafCount, treeDefKey, treeFlatten, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { allFinite, Tensor } from '../core/tensor.js';
import { CheckpointError } from './errors.js';

const MAGIC = 'DEQCKPT1';
const VERSION = 1;
const DTYPES: readonly DType[] = ['float32', 'float64', 'int64', 'int32', 'bool'];
/** Sane maxima: a checkpoint of the models here is a few MB, its header a few hundred KB. */
const MAX_FILE_BYTES = 2 ** 31 - 1;
const MAX_HEADER_BYTES = 16 * 2 ** 20;
const MAX_RANK = 16;
const MAX_TREE_DEPTH = 64;
/** Keys that would reach an object's prototype when a tree is rebuilt. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

type TensorRef = { dtype: DType; shape: number[]; offset: number; bytes: number };
type LeafRef = { tensor: TensorRef } | { value: number | string | boolean };

interface Header {
  format: 'deq-checkpoint';
  version: number;
  meta: Record<string, unknown>;
  trees: Record<string, { def: TreeDef; leaves: LeafRef[] }>;
}

export interface Checkpoint {
  /** Plain JSON: epoch, config, metrics history, ... */
  meta: Record<string, unknown>;
  /** Named pytrees of tensors and numbers: params, model state, optimizer state. */
  trees: Record<string, unknown>;
}

const align8 = (n: number) => (n + 7) & ~7;
const bytesOf = (t: Tensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const itemBytes = (d: DType) => allocate(d, 0).BYTES_PER_ELEMENT;

export function encodeCheckpoint(ck: Checkpoint): Uint8Array {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const trees: Header['trees'] = {};
  for (const [name, tree] of Object.entries(ck.trees)) {
    const [leaves, def] = treeFlatten<unknown>(tree);
    trees[name] = {
      def,
      leaves: leaves.map((l, i): LeafRef => {
        if (l instanceof Tensor) {
          const b = bytesOf(l);
          const ref = { tensor: { dtype: l.dtype, shape: [...l.shape], offset, bytes: b.length } };
          blobs.push(b);
          offset = align8(offset + b.length);
          return ref;
        }
        if ((typeof l === 'number' && Number.isFinite(l)) || typeof l === 'string' || typeof l === 'boolean') return { value: l };
        throw new InputError(`checkpoint: tree "${name}" leaf ${i} is ${typeof l === 'number' ? l : `a ${typeof l}`}; checkpoints hold tensors, finite numbers, strings and booleans`);
      }),
    };
  }
  const header: Header = { format: 'deq-checkpoint', version: VERSION, meta: ck.meta, trees };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const start = align8(12 + json.length);
  const out = new Uint8Array(start + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  let o = start;
  for (const b of blobs) { out.set(b, o); o = align8(o + b.length); }
  return out;
}

// ---- the header schema: each check throws Damaged with where and what ----

class Damaged extends Error {}
const damaged = (at: string, why: string): never => { throw new Damaged(`${at} ${why}`); };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function object(v: unknown, at: string): Record<string, unknown> {
  return isObject(v) ? v : damaged(at, 'is not an object');
}
function array(v: unknown, at: string): unknown[] {
  return Array.isArray(v) ? v : damaged(at, 'is not a list');
}
function count(v: unknown, at: string): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : damaged(at, `is ${JSON.stringify(v)}, not a count`);
}

function treeDef(v: unknown, at: string, depth = 0): TreeDef {
  if (depth > MAX_TREE_DEPTH) damaged(at, `nests deeper than ${MAX_TREE_DEPTH} levels`);
  const o = object(v, at);
  switch (o.kind) {
    case 'leaf': return { kind: 'leaf' };
    case 'none': return { kind: 'none' };
    case 'array': return { kind: 'array', children: array(o.children, `${at}.children`).map((c, i) => treeDef(c, `${at}[${i}]`, depth + 1)) };
    case 'object': {
      const keys = array(o.keys, `${at}.keys`).map((k, i) => (typeof k === 'string' ? k : damaged(`${at}.keys[${i}]`, 'is not a string')));
      for (const k of keys) if (FORBIDDEN_KEYS.has(k)) damaged(`key "${k}"`, `in ${at} is not allowed`);
      const children = array(o.children, `${at}.children`);
      if (children.length !== keys.length) damaged(at, `has ${keys.length} keys but ${children.length} children`);
      if (new Set(keys).size !== keys.length) damaged(`${at}.keys`, 'repeat a key');
      return { kind: 'object', keys, children: children.map((c, i) => treeDef(c, `${at}.${keys[i]}`, depth + 1)) };
    }
    default: return damaged(`${at}.kind`, `is ${JSON.stringify(o.kind)}`);
  }
}

function leafRef(v: unknown, at: string): LeafRef {
  const o = object(v, at);
  if ('value' in o) {
    const x = o.value;
    if ((typeof x === 'number' && Number.isFinite(x)) || typeof x === 'string' || typeof x === 'boolean') return { value: x };
    return damaged(`${at}.value`, `is ${JSON.stringify(x)}`);
  }
  const t = object(o.tensor, `${at}.tensor`);
  const dtype = DTYPES.find((d) => d === t.dtype) ?? damaged(`${at}.dtype`, `is ${JSON.stringify(t.dtype)}, not one of ${DTYPES.join(', ')}`);
  const shape = array(t.shape, `${at}.shape`);
  if (shape.length > MAX_RANK) damaged(`${at}.shape`, `has rank ${shape.length} (at most ${MAX_RANK})`);
  return { tensor: { dtype, shape: shape.map((d, i) => count(d, `${at}.shape[${i}]`)), offset: count(t.offset, `${at}.offset`), bytes: count(t.bytes, `${at}.bytes`) } };
}

/**
 * The header, checked: every tensor's byte range lies inside the data region, in file order and
 * without overlap, and matches its dtype and shape, so what is allocated later is what is there.
 */
function checkedHeader(raw: unknown, dataBytes: number): Header {
  const h = object(raw, 'header');
  if (h.format !== 'deq-checkpoint') damaged('format', `is ${JSON.stringify(h.format)}`);
  if (h.version !== VERSION) damaged('version', `is ${JSON.stringify(h.version)}; this build reads version ${VERSION}`);
  const meta = object(h.meta, 'meta');
  const trees: Header['trees'] = {};
  let end = 0;
  for (const [name, t] of Object.entries(object(h.trees, 'trees'))) {
    const tree = object(t, `trees.${name}`);
    const def = treeDef(tree.def, `trees.${name}.def`);
    const leaves = array(tree.leaves, `trees.${name}.leaves`).map((l, i) => leafRef(l, `trees.${name}.leaves[${i}]`));
    if (leaves.length !== leafCount(def)) damaged(`trees.${name}`, `has ${leaves.length} leaves for a structure of ${leafCount(def)}`);
    leaves.forEach((l, i) => {
      if (!('tensor' in l)) return;
      const at = `trees.${name}.leaves[${i}]`;
      const { dtype, shape, offset, bytes } = l.tensor;
      const expected = shape.reduce((a, b) => a * b, 1) * itemBytes(dtype);
      if (bytes !== expected) damaged(at, `holds ${bytes} bytes; ${dtype} [${shape}] takes ${expected}`);
      if (offset % 8 !== 0 || offset < end) damaged(`${at}.offset`, `is ${offset}; expected a multiple of 8 from ${end} on`);
      if (offset + bytes > dataBytes) damaged(at, `ends at byte ${offset + bytes}, past the ${dataBytes}-byte data region: the file is truncated`);
      end = align8(offset + bytes);
    });
    trees[name] = { def, leaves };
  }
  if (end !== dataBytes) damaged('data region', `has ${dataBytes} bytes; the tensors take ${end}`);
  return { format: 'deq-checkpoint', version: VERSION, meta, trees };
}

/** JSON.parse that refuses keys which would reach a prototype when the trees are rebuilt. */
const parseJson = (text: string): unknown =>
  JSON.parse(text, (key, value: unknown) => (FORBIDDEN_KEYS.has(key) ? damaged(`key "${key}"`, 'in the header is not allowed') : value));

export function decodeCheckpoint(buf: Uint8Array, name = 'checkpoint'): E.Either<CheckpointError, Checkpoint> {
  const bad = (why: string) => E.left(new CheckpointError(name, why));
  if (buf.length < 12 || new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) return bad('bad magic number; not a deq checkpoint');
  const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(8, true);
  if (len > MAX_HEADER_BYTES) return bad(`header length ${len} is over the ${MAX_HEADER_BYTES}-byte maximum`);
  if (12 + len > buf.length) return bad(`truncated header: ${len} bytes declared, ${buf.length - 12} present`);
  const start = align8(12 + len);
  let header: Header;
  try {
    let raw: unknown;
    try {
      raw = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(12, 12 + len)));
    } catch (e) {
      if (e instanceof Damaged) throw e;
      return bad('unreadable header');
    }
    header = checkedHeader(raw, Math.max(0, buf.length - start));
  } catch (e) {
    if (e instanceof Damaged) return bad(e.message);
    throw e;
  }
  const trees: Record<string, unknown> = {};
  for (const [treeName, t] of Object.entries(header.trees)) {
    const leaves = t.leaves.map((ref) => {
      if ('value' in ref) return ref.value;
      const { dtype, shape, offset, bytes } = ref.tensor;
      const data = allocate(dtype, bytes / itemBytes(dtype));
      new Uint8Array(data.buffer).set(buf.subarray(start + offset, start + offset + bytes));
      return new Tensor(dtype, shape, data);
    });
    trees[treeName] = treeUnflatten(t.def, leaves);
  }
  return E.right({ meta: header.meta, trees });
}

/** Write a checkpoint atomically (readers see the old or the new one, never half of it). */
export const saveCheckpoint = (path: string, ck: Checkpoint): Promise<void> => writeAtomic(path, encodeCheckpoint(ck));

export function loadCheckpoint(path: string): E.Either<InputError, Checkpoint> {
  let buf: Uint8Array;
  try {
    const size = statSync(path).size;
    if (size > MAX_FILE_BYTES) return E.left(new CheckpointError(path, `${size} bytes is over the ${MAX_FILE_BYTES}-byte maximum`));
    buf = new Uint8Array(readFileSync(path));
  } catch (e) {
    return E.left(new InputError(`${path}: cannot read checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`));
  }
  return decodeCheckpoint(buf, path);
}

const describe = (l: unknown): string => (l instanceof Tensor ? `${l.dtype} [${l.shape}]` : typeof l);

/**
 * Why `loaded` cannot stand in for `expected` (same structure, and tensors of the same dtype and
 * shape, all finite), or null when it can. Used to check a checkpoint against a fresh model.
 */
export function treeMismatch(loaded: unknown, expected: unknown, what: string): string | null {
  const [ls, ld] = treeFlatten<unknown>(loaded);
  const [es, ed] = treeFlatten<unknown>(expected);
  if (treeDefKey(ld) !== treeDefKey(ed)) return `${what} have another structure than the model's`;
  for (let i = 0; i < es.length; i++) {
    const l = ls[i], e = es[i];
    if (e instanceof Tensor) {
      if (!(l instanceof Tensor) || l.dtype !== e.dtype || l.shape.length !== e.shape.length || l.shape.some((d, k) => d !== e.shape[k])) {
        return `${what} leaf ${i} is ${describe(l)}; the model has ${describe(e)}`;
      }
      if (!allFinite(l)) return `${what} leaf ${i} holds non-finite values`;
    } else if (typeof l !== typeof e) return `${what} leaf ${i} is ${describe(l)}; the model has ${describe(e)}`;
  }
  return null;
}
