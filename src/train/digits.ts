/**
 * The bundled digits packed for the web: the mnist package's ten JSON files (21 MB of decimal text)
 * as one 7.9 MB file that unpacks to exactly the same float32 pixels. Its pixels take 256 values
 * (bytes scaled to [0, 1] and rounded to three decimals), so each is stored as a byte indexing a
 * table of those values:
 *
 *   'DQDG' | u32 version 1 | u32 count[10] | u32 table size T (≤ 256) | f32 table[T] | u8 index[N·784]
 *
 * little-endian, N the sum of the counts, images of digit 0 first, then 1, ... as in the JSON files.
 */
import { InputError } from '../core/errors.js';
import { DIGIT_PIXELS } from './dataset.js';

const MAGIC = 'DQDG';
const VERSION = 1;
const HEADER = 4 + 4 + 10 * 4 + 4;

/** Pack the pixels of each digit 0..9 (as splitDigits takes them); at most 256 distinct float32 values. */
export function packDigits(perDigit: readonly ArrayLike<number>[]): Uint8Array {
  if (perDigit.length !== 10) throw new InputError(`packDigits: expected the pixels of 10 digits, got ${perDigit.length}`);
  const pixels = perDigit.map((p) => Float32Array.from(p));
  pixels.forEach((p, d) => {
    if (p.length % DIGIT_PIXELS !== 0) throw new InputError(`packDigits: digit ${d} has ${p.length} values, not a multiple of ${DIGIT_PIXELS}`);
  });
  const values = [...new Set(pixels.flatMap((p) => [...new Set(p)]))].sort((a, b) => a - b);
  if (values.length > 256) throw new InputError(`packDigits: the pixels take ${values.length} distinct values; one byte indexes at most 256`);
  const index = new Map(values.map((v, i) => [v, i]));
  const total = pixels.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(HEADER + 4 * values.length + total);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) bytes[i] = MAGIC.charCodeAt(i);
  view.setUint32(4, VERSION, true);
  pixels.forEach((p, d) => view.setUint32(8 + 4 * d, p.length / DIGIT_PIXELS, true));
  view.setUint32(HEADER - 4, values.length, true);
  values.forEach((v, i) => view.setFloat32(HEADER + 4 * i, v, true));
  let at = HEADER + 4 * values.length;
  for (const p of pixels) for (const v of p) bytes[at++] = index.get(v)!;
  return bytes;
}

/** The pixels of each digit 0..9 from packDigits' bytes; every size and index is checked first. */
export function unpackDigits(bytes: Uint8Array, name = 'packed digits'): Float32Array[] {
  const bad = (why: string) => new InputError(`${name}: ${why}; rebuild it (npm run build)`);
  if (bytes.length < HEADER || String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) throw bad(`not a packed digits file (no ${MAGIC} header)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw bad(`version ${version}, expected ${VERSION}`);
  const counts = Array.from({ length: 10 }, (_, d) => view.getUint32(8 + 4 * d, true));
  const tableSize = view.getUint32(HEADER - 4, true);
  if (tableSize < 1 || tableSize > 256) throw bad(`a table of ${tableSize} values (1 to 256 expected)`);
  const images = counts.reduce((a, b) => a + b, 0);
  const start = HEADER + 4 * tableSize;
  if (bytes.length !== start + images * DIGIT_PIXELS) throw bad(`${bytes.length} bytes, but its header describes ${start + images * DIGIT_PIXELS}`);
  const table = Float32Array.from({ length: tableSize }, (_, i) => view.getFloat32(HEADER + 4 * i, true));
  let at = start;
  return counts.map((count) => {
    const out = new Float32Array(count * DIGIT_PIXELS);
    for (let i = 0; i < out.length; i++) {
      const k = bytes[at++]!;
      if (k >= tableSize) throw bad(`pixel index ${k} at byte ${at - 1} is outside its table of ${tableSize}`);
      out[i] = table[k]!;
    }
    return out;
  });
}
