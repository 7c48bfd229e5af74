import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { Rng, tensor, Tensor } from '../src/index.js';
import { decodeCheckpoint, encodeCheckpoint, treeMismatch } from '../src/train/checkpoint.js';
import { CheckpointError } from '../src/train/errors.js';

const trees = {
  params: { enc: { W: new Rng(2).randn([3, 4]), b: tensor([1, 2, 3, 4], 'float64') }, list: [tensor([7, 8], 'int64')] },
  optState: { step: 12 },
};
const good = encodeCheckpoint({ meta: { epoch: 3 }, trees });

/** The file's header as text and its data region. */
function split(bytes: Uint8Array): { json: string; data: Uint8Array } {
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const start = (12 + len + 7) & ~7;
  return { json: new TextDecoder().decode(bytes.subarray(12, 12 + len)), data: bytes.subarray(start) };
}

/** A file with another header text in front of the same data region. */
function withHeader(json: string, data: Uint8Array, declaredLength?: number): Uint8Array {
  const j = new TextEncoder().encode(json);
  const start = (12 + j.length + 7) & ~7;
  const out = new Uint8Array(start + data.length);
  out.set(new TextEncoder().encode('DEQCKPT1'), 0);
  new DataView(out.buffer).setUint32(8, declaredLength ?? j.length, true);
  out.set(j, 12);
  out.set(data, start);
  return out;
}

/** The good header text with `from` replaced (which must be there). */
function replaced(from: string, to: string): Uint8Array {
  const { json, data } = split(good);
  if (!json.includes(from)) throw new Error(`the header has no ${from}`);
  return withHeader(json.replace(from, to), data);
}

/** The good file with its header object changed by `edit`. */
function edited(edit: (h: any) => void): Uint8Array {
  const { json, data } = split(good);
  const h = JSON.parse(json);
  edit(h);
  return withHeader(JSON.stringify(h), data);
}

const W = (h: any) => h.trees.params.leaves[0].tensor;

describe('checkpoint headers are checked field by field', () => {
  // each of these once gave a raw JS error or loaded the wrong bytes
  const damagedFiles: [string, () => Uint8Array, RegExp][] = [
    ['leaves that are not a list', () => edited((h) => { h.trees.params.leaves = 5; }), /leaves is not a list/],
    ['a negative dimension', () => edited((h) => { W(h).shape = [-1, 4]; }), /shape\[0\] is -1, not a count/],
    ['a tensor entry without its fields', () => edited((h) => { h.trees.params.leaves[0] = {}; }), /tensor is not an object/],
    ['a negative data offset (header bytes read as weights)', () => edited((h) => { W(h).offset = -64; }), /offset is -64, not a count/],
    ['an offset past the data', () => edited((h) => { W(h).offset = 1 << 20; }), /the file is truncated/],
    ['overlapping tensors', () => edited((h) => { h.trees.params.leaves[1].tensor.offset = 0; }), /offset is 0; expected a multiple of 8 from/],
    ['a byte count that disagrees with the shape', () => edited((h) => { W(h).bytes = 40; }), /holds 40 bytes; float32 \[3,4\] takes 48/],
    ['an unknown dtype', () => edited((h) => { W(h).dtype = 'float16'; }), /dtype is "float16"/],
    ['a huge shape', () => edited((h) => { W(h).shape = [2 ** 32, 2 ** 32]; W(h).bytes = 2 ** 66; }), /not a count|takes/],
    ['a tree structure of another size', () => edited((h) => { h.trees.params.def.children[1].children.push({ kind: 'leaf' }); }), /leaves for a structure of/],
    ['a structure node of unknown kind', () => edited((h) => { h.trees.params.def.kind = 'set'; }), /def\.kind is "set"/],
    ['another version', () => edited((h) => { h.version = 2; }), /version is 2/],
    ['no meta object', () => edited((h) => { h.meta = [1]; }), /meta is not an object/],
    ['a non-finite number leaf', () => edited((h) => { h.trees.optState.leaves[0] = { value: null }; }), /value is null/],
    ['a header longer than the file', () => withHeader(split(good).json, split(good).data, 1 << 20), /truncated header/],
    ['a header length over the maximum', () => withHeader(split(good).json, split(good).data, 2 ** 31), /over the .*-byte maximum/],
    ['trailing bytes after the last tensor', () => { const b = new Uint8Array(good.length + 8); b.set(good); return b; }, /data region has/],
    ['bytes cut off the end', () => good.subarray(0, good.length - 8), /the file is truncated/],
    ['a __proto__ key', () => replaced('"meta":{', '"meta":{"__proto__":{"polluted":1},'), /key "__proto__" in the header is not allowed/],
    ['a constructor key in a tree', () => replaced('"keys":["enc"', '"keys":["constructor"'), /key "constructor" in trees\.params\.def.* is not allowed/],
    ['a header that is not JSON', () => withHeader('{"format":', split(good).data), /unreadable header/],
  ];

  it.each(damagedFiles)('%s: one damaged-checkpoint error, never a throw', (_what, make, reason) => {
    const r = decodeCheckpoint(make(), 'run/checkpoint.deq');
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    expect(r.left).toBeInstanceOf(CheckpointError);
    expect(r.left.message).toMatch(/^damaged checkpoint run\/checkpoint\.deq \(.*\): train again or write to another folder$/);
    expect((r.left as CheckpointError).reason).toMatch(reason);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a good file still round-trips', () => {
    const r = decodeCheckpoint(good);
    if (E.isLeft(r)) throw r.left;
    const p = r.right.trees.params as typeof trees.params;
    expect(p.enc.W.toArray()).toEqual(trees.params.enc.W.toArray());
    expect(p.list[0]!.toArray()).toEqual([7, 8]);
    expect(r.right.trees.optState).toEqual({ step: 12 });
  });

  it('the encoder refuses a non-finite number leaf instead of writing null', () => {
    expect(() => encodeCheckpoint({ meta: {}, trees: { t: { step: NaN } } })).toThrow(/finite numbers/);
  });
});

describe('treeMismatch', () => {
  const fresh = { W: new Tensor('float32', [2, 3]), step: 0 };
  it('accepts the same structure, dtypes and shapes, and names the first difference otherwise', () => {
    expect(treeMismatch({ W: new Tensor('float32', [2, 3]), step: 4 }, fresh, 'params')).toBeNull();
    expect(treeMismatch({ W: new Tensor('float32', [3, 2]), step: 4 }, fresh, 'params')).toMatch(/params leaf 0 is float32 \[3,2\]; the model has float32 \[2,3\]/);
    expect(treeMismatch({ W: new Tensor('float64', [2, 3]), step: 4 }, fresh, 'params')).toMatch(/float64/);
    expect(treeMismatch({ V: new Tensor('float32', [2, 3]), step: 4 }, fresh, 'params')).toMatch(/another structure/);
    expect(treeMismatch({ W: new Tensor('float32', [2, 3], new Float32Array([0, 1, Infinity, 0, 0, 0])), step: 4 }, fresh, 'params')).toMatch(/non-finite/);
    expect(treeMismatch({ W: new Tensor('float32', [2, 3]), step: 'x' }, fresh, 'params')).toMatch(/leaf 1 is string/);
  });
});
