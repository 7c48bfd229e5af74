/**
 * NumPy's .npz (np.savez, np.savez_compressed): a zip archive of .npy arrays. Read into host
 * tensors by name; float32, float64, int32, int64 and bool arrays in C order. Every size and
 * offset is checked against the file before it is used.
 */
import { inflateRawSync } from 'node:zlib';
import type { DType } from '../core/dtype.js';
import { InputError } from '../core/errors.js';
import { Tensor, sizeOf } from '../core/tensor.js';

const NPY_DTYPES: Record<string, DType> = { '<f4': 'float32', '<f8': 'float64', '<i4': 'int32', '<i8': 'int64', '|b1': 'bool' };
const MAX_ENTRIES = 4096;

/** The arrays of an .npz file's bytes, by name (the member name without `.npy`). */
export function readNpz(bytes: Uint8Array, what = 'the .npz file'): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const e of zipEntries(bytes, what)) {
    if (!e.name.endsWith('.npy')) throw new InputError(`${what}: member ${e.name} is not an .npy array`);
    out[e.name.slice(0, -'.npy'.length)] = readNpy(e.data, `${what}, ${e.name}`);
  }
  return out;
}

/** One .npy array. */
export function readNpy(bytes: Uint8Array, what: string): Tensor {
  const v = view(bytes);
  if (bytes.length < 10 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY' || bytes[0] !== 0x93) throw new InputError(`${what}: not an .npy array (bad magic)`);
  const major = bytes[6]!;
  const headerLen = major === 1 ? v.getUint16(8, true) : v.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new InputError(`${what}: the header runs past the end of the array`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new InputError(`${what}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  const dtype = NPY_DTYPES[descr];
  if (!dtype) throw new InputError(`${what}: dtype ${descr} is not supported; save the array as float32, float64, int32, int64 or bool (little-endian)`);
  if (fortran === 'True') throw new InputError(`${what}: the array is in Fortran order; save np.ascontiguousarray(a) instead`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new InputError(`${what}: bad shape (${shapeText})`);
  const t = new Tensor(dtype, shape);
  const need = sizeOf(shape) * t.data.BYTES_PER_ELEMENT;
  const body = bytes.subarray(start + headerLen);
  if (body.length !== need) throw new InputError(`${what}: shape (${shape.join(', ')}) of ${descr} needs ${need} bytes, the file holds ${body.length}`);
  new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).set(body);
  return t;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A zip archive's members, stored or deflated, from its central directory (zip64 sizes included). */
function zipEntries(bytes: Uint8Array, what: string): { name: string; data: Uint8Array }[] {
  const v = view(bytes);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (v.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new InputError(`${what}: not a zip archive (no end of central directory); write it with np.savez`);
  const count = v.getUint16(eocd + 10, true);
  let p = v.getUint32(eocd + 16, true);
  if (count > MAX_ENTRIES) throw new InputError(`${what}: ${count} members, more than ${MAX_ENTRIES}`);
  const entries: { name: string; data: Uint8Array }[] = [];
  const check = (ok: boolean, msg: string) => {
    if (!ok) throw new InputError(`${what}: damaged archive (${msg})`);
  };
  for (let k = 0; k < count; k++) {
    check(p + 46 <= bytes.length && v.getUint32(p, true) === 0x02014b50, 'central directory');
    const method = v.getUint16(p + 10, true);
    let compressed = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let offset = v.getUint32(p + 42, true);
    check(p + 46 + nameLen + extraLen <= bytes.length, 'central directory entry');
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64: the 32-bit fields that overflowed are in extra field 0x0001, in this order
    for (let q = p + 46 + nameLen; q + 4 <= p + 46 + nameLen + extraLen;) {
      const id = v.getUint16(q, true);
      const len = v.getUint16(q + 2, true);
      if (id === 1) {
        let r = q + 4;
        const next = () => { const x = Number(v.getBigUint64(r, true)); r += 8; return x; };
        if (size === 0xffffffff) size = next();
        if (compressed === 0xffffffff) compressed = next();
        if (offset === 0xffffffff) offset = next();
      }
      q += 4 + len;
    }
    check(offset + 30 <= bytes.length && v.getUint32(offset, true) === 0x04034b50, `local header of ${name}`);
    const dataStart = offset + 30 + v.getUint16(offset + 26, true) + v.getUint16(offset + 28, true);
    check(dataStart + compressed <= bytes.length, `${name} runs past the end`);
    const raw = bytes.subarray(dataStart, dataStart + compressed);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) data = new Uint8Array(inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) }));
    else throw new InputError(`${what}: ${name} uses zip compression method ${method}; write the file with np.savez or np.savez_compressed`);
    check(data.length === size, `${name} holds ${data.length} bytes, its header says ${size}`);
    entries.push({ name, data });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}
