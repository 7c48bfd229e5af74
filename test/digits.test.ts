/**
 * The bundled digits as the browser page gets them: packed into one file at build time, unpacked
 * in the page, split by the same pure function as Node's loader. The split must be the same digits
 * in the same order, to the bit, or the page's training would not match Node's.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/index.js';
import { loadBundledDigits, packDigits, readBundledDigits, splitDigits, unpackDigits, type Dataset } from '../src/train/index.js';

const bits = (ds: Dataset) => [Buffer.from((ds.images.data as Float32Array).buffer), Buffer.from((ds.labels.data as BigInt64Array).buffer)];

describe('packed digits', () => {
  const perDigit = readBundledDigits();
  const packed = packDigits(perDigit);

  it('unpack to the JSON files\' float32 pixels exactly, and split as loadBundledDigits does', () => {
    expect(packed.length).toBeLessThan(8_000_000);
    const unpacked = unpackDigits(packed);
    expect(unpacked.map((p) => p.length)).toEqual(perDigit.map((p) => p.length));
    unpacked.forEach((p, d) => expect(Buffer.from(p.buffer).equals(Buffer.from(perDigit[d]!.buffer)), `digit ${d}`).toBe(true));
    const node = loadBundledDigits();
    const page = splitDigits(unpacked);
    expect(page.train.images.shape).toEqual([8000, 1, 28, 28]);
    expect(page.test.labels.shape).toEqual([2000]);
    for (const part of ['train', 'test'] as const) {
      const [a, b] = [bits(node[part]), bits(page[part])];
      expect(a[0]!.equals(b[0]!) && a[1]!.equals(b[1]!), part).toBe(true);
    }
    expect(page.source).toBe(node.source);
  });

  it('refuse damaged bytes with an InputError that says to rebuild', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty', new Uint8Array(0), /no DQDG header/],
      ['truncated', packed.subarray(0, packed.length - 1), /bytes, but its header describes/],
      ['longer', Uint8Array.from([...packed.subarray(0, 1000), 0]), /bytes, but its header describes/],
    ];
    const badVersion = packed.slice(0, 2000);
    badVersion[4] = 9;
    cases.push(['version', badVersion, /version 9/]);
    // two distinct values: a table of 2, so an index of 2 or more points outside it
    const badIndex = packDigits(Array.from({ length: 10 }, (_, d) => Float32Array.from({ length: 784 }, (_, i) => (i + d) % 2)));
    badIndex[badIndex.length - 1] = 2;
    cases.push(['index', badIndex, /outside its table/]);
    for (const [what, bytes, message] of cases) {
      expect(() => unpackDigits(bytes), what).toThrow(InputError);
      expect(() => unpackDigits(bytes), what).toThrow(message);
      expect(() => unpackDigits(bytes), what).toThrow(/npm run build/);
    }
  });

  it('splitDigits checks what it is given', () => {
    expect(() => splitDigits(perDigit.slice(0, 9))).toThrow(/10 digits/);
    expect(() => splitDigits([...perDigit.slice(0, 9), new Float32Array(100)])).toThrow(/not a multiple of 784/);
    expect(() => splitDigits(perDigit, 10_000)).toThrow(/trainSize must be in 1\.\.9999/);
    expect(() => packDigits(Array.from({ length: 10 }, (_, d) => Float32Array.from({ length: 784 }, (_, i) => (i + 784 * d) / 7840)))).toThrow(/distinct values/);
  });
});
