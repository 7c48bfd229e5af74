/**
 * Checkpoints: one file, "DEQCKPT1" + uint32 header length + JSON header + 8-byte aligned tensor
 * bytes (little-endian, as typed arrays hold them on every platform onnxruntime supports).
 * The header holds each pytree's structure (a TreeDef is plain JSON) and where its tensors are,
 * so any pytree of tensors and numbers round-trips. Files are written atomically.
 */
import { readFileSync } from 'node:fs';
import { writeAtomic } from '../util/fs.js';
import * as E from 'fp-ts/lib/Either.js';
import { allocate, type DType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import { treeFlatten, treeUnflatten, type TreeDef } from '../core/pytree.js';
import { Tensor } from '../core/tensor.js';

const MAGIC = 'DEQCKPT1';
const VERSION = 1;

type LeafRef =
  | { tensor: { dtype: DType; shape: number[]; offset: number; bytes: number } }
  | { value: number | string | boolean };

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
        if (typeof l === 'number' || typeof l === 'string' || typeof l === 'boolean') return { value: l };
        throw new InputError(`checkpoint: tree "${name}" leaf ${i} is a ${typeof l}; checkpoints hold tensors, numbers, strings and booleans`);
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

export function decodeCheckpoint(buf: Uint8Array, name = 'checkpoint'): E.Either<InputError, Checkpoint> {
  const bad = (why: string) => E.left(new InputError(`${name}: ${why}; the file is damaged or not a deq checkpoint — train again or pick another file`));
  if (buf.length < 12 || new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) return bad('bad magic number');
  const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(8, true);
  if (12 + len > buf.length) return bad('truncated header');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + len))) as Header;
  } catch {
    return bad('unreadable header');
  }
  if (header.format !== 'deq-checkpoint' || header.version !== VERSION) return bad(`unsupported format ${header.format} v${header.version}`);
  const start = align8(12 + len);
  const trees: Record<string, unknown> = {};
  for (const [treeName, t] of Object.entries(header.trees)) {
    const leaves: unknown[] = [];
    for (const ref of t.leaves) {
      if ('value' in ref) { leaves.push(ref.value); continue; }
      const { dtype, shape, offset, bytes } = ref.tensor;
      if (start + offset + bytes > buf.length) return bad(`truncated data in "${treeName}"`);
      const n = shape.reduce((a, b) => a * b, 1);
      const data = allocate(dtype, n);
      if (data.byteLength !== bytes) return bad(`tensor size mismatch in "${treeName}"`);
      new Uint8Array(data.buffer).set(buf.subarray(start + offset, start + offset + bytes));
      leaves.push(new Tensor(dtype, shape, data));
    }
    trees[treeName] = treeUnflatten(t.def, leaves);
  }
  return E.right({ meta: header.meta, trees });
}

/** Write a checkpoint atomically (readers see the old or the new one, never half of it). */
export const saveCheckpoint = (path: string, ck: Checkpoint): Promise<void> => writeAtomic(path, encodeCheckpoint(ck));

export function loadCheckpoint(path: string): E.Either<InputError, Checkpoint> {
  let buf: Uint8Array;
  try {
    buf = new Uint8Array(readFileSync(path));
  } catch (e) {
    return E.left(new InputError(`${path}: cannot read checkpoint (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); train first with deq train --out <dir>`));
  }
  return decodeCheckpoint(buf, path);
}
