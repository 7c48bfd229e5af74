/**
 * readNpz on files NumPy wrote (scripts/make-npz-fixtures.py): stored and deflated archives, every
 * supported dtype, and one clear error for each file it cannot read.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/index.js';
import { readNpz } from '../src/util/npz.js';

const read = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/npz/${name}`, import.meta.url)));
const zoo = JSON.parse(readFileSync(new URL('./fixtures/zoo/gated.opset17.float32.json', import.meta.url), 'utf8')) as Record<string, { shape: number[]; data: number[] }>;

describe('readNpz', () => {
  for (const file of ['gated-inputs.npz', 'gated-inputs.compressed.npz']) {
    it(`${file}: z, x and g as float32, equal to the zoo's values`, () => {
      const a = readNpz(read(file));
      expect(Object.keys(a).sort()).toEqual(['g', 'x', 'z']);
      for (const k of ['z', 'x', 'g']) {
        expect(a[k]!.dtype).toBe('float32');
        expect([...a[k]!.shape]).toEqual(zoo[k]!.shape);
        expect([...a[k]!.data]).toEqual([...Float32Array.from(zoo[k]!.data)]);
      }
    });
  }

  it('every supported dtype, and a 0-d array', () => {
    const a = readNpz(read('kinds.npz'));
    expect(a.f4!.dtype).toBe('float32');
    expect([...a.f4!.shape]).toEqual([2, 3]);
    expect([...a.f4!.data]).toEqual([...Float32Array.from([0, 1, 2, 3, 4, 5].map((v) => v / 7))]);
    expect([...a.f8!.data]).toEqual([0, 1 / 3, 2 / 3, 1]);
    expect([a.i4!.dtype, ...a.i4!.data]).toEqual(['int32', -1, 2, 3]);
    expect([a.i8!.dtype, ...a.i8!.data]).toEqual(['int64', 2n ** 40n, -5n]);
    expect([a.b1!.dtype, ...a.b1!.data]).toEqual(['bool', 1, 0, 1]);
    expect([a.scalar!.shape.length, a.scalar!.data[0]]).toEqual([0, 2.5]);
  });

  it('refuses Fortran order, float16, a truncated archive and a file that is not a zip, saying why', () => {
    expect(() => readNpz(read('fortran.npz'), 'fortran.npz')).toThrow(/Fortran order; save np.ascontiguousarray/);
    expect(() => readNpz(read('float16.npz'))).toThrow(/dtype <f2 is not supported/);
    const whole = read('gated-inputs.npz');
    expect(() => readNpz(whole.subarray(0, whole.length - 30))).toThrow(InputError);
    expect(() => readNpz(new TextEncoder().encode('{"z": [1, 2]}'))).toThrow(/not a zip archive/);
    // a member whose data is cut short inside an intact directory
    const cut = whole.slice();
    const view = new DataView(cut.buffer);
    for (let i = cut.length - 22; i >= 0; i--) {
      if (view.getUint32(i, true) !== 0x02014b50) continue;
      view.setUint32(i + 20, view.getUint32(i + 20, true) - 8, true); // compressed size
      break;
    }
    expect(() => readNpz(cut)).toThrow(/damaged archive|needs \d+ bytes/);
  });
});
