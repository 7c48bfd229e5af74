/**
 * New values for a model's initializers, everything else kept byte for byte: the file is rewritten
 * at the protobuf wire level, so fields this library's schema does not know (newer IR versions,
 * metadata, functions), node and value names, doc strings, opset imports and symbolic dimensions
 * all pass through untouched. Only the data fields of the named top-level initializers change:
 * their values go into raw_data (little-endian), in place of whichever data field held them.
 */
import { dtypeFromOnnx, onnxDType } from '../core/dtype.js';
import { OnnxError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { decodeModel, tensorFromProto } from './proto.js';
import { toNumber } from './walk.js';

/** Field numbers (onnx.proto3). */
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
/** float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data. */
const TENSOR_DATA_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11]);

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** One field of a message: [start, end) covers tag and payload; the payload is [dataStart, end). */
interface Field { no: number; wire: number; start: number; dataStart: number; end: number }

function readVarint(buf: Uint8Array, pos: number, what: string): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new OnnxError(`${what}: truncated protobuf (a number runs past the end)`);
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
  throw new OnnxError(`${what}: malformed protobuf (a number longer than 10 bytes)`);
}

function fieldsOf(buf: Uint8Array, what: string): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [tag, afterTag] = readVarint(buf, pos, what);
    const no = Math.floor(tag / 8);
    const wire = tag % 8;
    let dataStart = afterTag;
    let end: number;
    if (wire === WIRE_VARINT) end = readVarint(buf, afterTag, what)[1];
    else if (wire === WIRE_I64) end = afterTag + 8;
    else if (wire === WIRE_I32) end = afterTag + 4;
    else if (wire === WIRE_LEN) {
      const [len, next] = readVarint(buf, afterTag, what);
      dataStart = next;
      end = next + len;
    } else throw new OnnxError(`${what}: protobuf wire type ${wire} (groups) is not used by ONNX; the file is damaged`);
    if (no === 0 || end > buf.length) throw new OnnxError(`${what}: truncated or damaged protobuf at byte ${start}`);
    out.push({ no, wire, start, dataStart, end });
    pos = end;
  }
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A length-delimited field with this payload. */
const lengthField = (no: number, payload: Uint8Array): Uint8Array[] => [Uint8Array.from([...varint(no * 8 + WIRE_LEN), ...varint(payload.length)]), payload];

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * Rewrite a message: fields for which `edit` returns parts are replaced by them, the rest are
 * copied as they are.
 */
function rewrite(buf: Uint8Array, what: string, edit: (f: Field) => Uint8Array[] | undefined): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fieldsOf(buf, what)) parts.push(...(edit(f) ?? [buf.subarray(f.start, f.end)]));
  return concat(parts);
}

const bytesOf = (t: Tensor): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/**
 * The model `bytes` with each initializer named in `values` holding that tensor instead. Every
 * value must match its initializer's data type and dims exactly; names that are not top-level
 * initializers are refused, so a misspelt name cannot be silently ignored.
 */
export function replaceInitializers(bytes: Uint8Array, values: Readonly<Record<string, Tensor>>, what = 'model bytes'): Uint8Array {
  const model = decodeModel(bytes, what);
  const inits = new Map((model.graph!.initializer ?? []).map((t) => [t.name ?? '', t]));
  for (const [name, v] of Object.entries(values)) {
    const t = inits.get(name);
    if (!t) throw new OnnxError(`${what}: no initializer named ${name}; its initializers are ${[...inits.keys()].join(', ') || '(none)'}`);
    if (!(v instanceof Tensor)) throw new OnnxError(`${what}: the value for initializer ${name} is not a Tensor`);
    const dims = (t.dims ?? []).map(toNumber);
    if (t.dataType !== onnxDType[v.dtype] || dims.length !== v.shape.length || dims.some((d, i) => d !== v.shape[i])) {
      // the element type named from the type code: reading the whole initializer just for it is not needed
      const old = dtypeFromOnnx(t.dataType ?? 0) ?? `ONNX type ${t.dataType ?? 0}`;
      throw new OnnxError(`${what}: initializer ${name} is ${old}[${dims.join(', ')}]; the new value is ${v.dtype}[${v.shape.join(', ')}]`);
    }
  }
  const text = new TextDecoder();
  const tensor = (buf: Uint8Array): Uint8Array[] | undefined => {
    const fields = fieldsOf(buf, what);
    const nameField = fields.find((f) => f.no === TENSOR_NAME && f.wire === WIRE_LEN);
    const name = nameField ? text.decode(buf.subarray(nameField.dataStart, nameField.end)) : undefined;
    if (name === undefined || !(name in values)) return undefined;
    const raw = lengthField(TENSOR_RAW_DATA, bytesOf(values[name]!));
    let placed = false;
    const parts: Uint8Array[] = [];
    for (const f of fields) {
      if (!TENSOR_DATA_FIELDS.has(f.no)) parts.push(buf.subarray(f.start, f.end));
      else if (!placed) { parts.push(...raw); placed = true; }
    }
    if (!placed) parts.push(...raw);
    return [concat(parts)];
  };
  const graph = (buf: Uint8Array) =>
    rewrite(buf, what, (f) => {
      if (f.no !== GRAPH_INITIALIZER || f.wire !== WIRE_LEN) return undefined;
      const t = tensor(buf.subarray(f.dataStart, f.end));
      return t && lengthField(GRAPH_INITIALIZER, t[0]!);
    });
  const out = rewrite(bytes, what, (f) => (f.no === MODEL_GRAPH && f.wire === WIRE_LEN ? lengthField(MODEL_GRAPH, graph(bytes.subarray(f.dataStart, f.end))) : undefined));
  // read back what was written: the new values, nothing else changed in the decoded model
  const back = decodeModel(out, `${what} (rewritten)`);
  for (const t of back.graph!.initializer ?? []) {
    const v = values[t.name ?? ''];
    if (!v) continue;
    const got = bytesOf(tensorFromProto(t, what));
    const want = bytesOf(v);
    if (got.length !== want.length || got.some((b, i) => b !== want[i])) throw new OnnxError(`${what}: initializer ${t.name} did not read back as written`);
  }
  return out;
}
