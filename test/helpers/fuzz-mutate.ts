/**
 * Seeded mutations of .onnx files, as a careless tool or an attacker would make them: binary ones
 * (truncations, bit, byte and varint flips, zeroed and duplicated chunks, a length set to zero) and
 * semantic ones on the decoded model (external data pointing at a secret, huge or negative dims,
 * short data, two writers of one value, bad versions, nodes dropped, swapped or miswired, changed
 * element types and attribute values, huge loop trip counts).
 */
import onnxProto from 'onnx-proto';
import { allGraphs, allTensors, type TensorLike } from '../../src/onnx/walk.js';

const { onnx } = onnxProto;
type Model = InstanceType<typeof onnx.ModelProto>;

/** mulberry32: a small seeded generator, so a failing case can be made again from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

export type Mutation = { kind: string; bytes: Uint8Array };

const binary: Record<string, (b: Uint8Array, r: Rand) => Uint8Array> = {
  truncate: (b, r) => b.slice(0, int(r, b.length)),
  bitflip: (b, r) => {
    const c = Uint8Array.from(b);
    c[int(r, c.length)]! ^= 1 << int(r, 8);
    return c;
  },
  byteset: (b, r) => {
    const c = Uint8Array.from(b);
    c[int(r, c.length)] = int(r, 256);
    return c;
  },
  // a byte of a varint (continuation bit set), or the length after a length-delimited tag, changed
  varint: (b, r) => {
    const c = Uint8Array.from(b);
    const at: number[] = [];
    for (let i = 0; i + 1 < c.length; i++) if (c[i]! >= 0x80 || (c[i]! & 7) === 2) at.push(i + 1);
    if (!at.length) return c;
    const i = pick(r, at);
    c[i] = pick(r, [0, 0x7f, 0xff, 0x80, (c[i]! + 1) & 0xff, (c[i]! - 1) & 0xff]);
    return c;
  },
  // a length-delimited field's length set to zero, its content then read as fields (the flip that hides graph inputs from protobufjs)
  zerolength: (b, r) => {
    const c = Uint8Array.from(b);
    const at: number[] = [];
    for (let i = 0; i + 1 < c.length; i++) if ((c[i]! & 7) === 2 && c[i]! < 0x80 && c[i + 1]! > 0 && c[i + 1]! < 0x80) at.push(i + 1);
    if (at.length) c[pick(r, at)] = 0;
    return c;
  },
  zerochunk: (b, r) => {
    const c = Uint8Array.from(b);
    const start = int(r, c.length);
    c.fill(0, start, Math.min(c.length, start + 1 + int(r, 64)));
    return c;
  },
  dupchunk: (b, r) => {
    const start = int(r, b.length);
    const end = Math.min(b.length, start + 1 + int(r, 128));
    return new Uint8Array([...b.slice(0, end), ...b.slice(start, end), ...b.slice(end)]);
  },
};

const tensorsOf = (m: Model): TensorLike[] => allTensors(m).map((s) => s.tensor);
/** The decoded main graph (a GraphProto instance: its repeated fields are arrays). */
const g = (m: Model) => m.graph as InstanceType<typeof onnx.GraphProto>;
const nodesOf = (m: Model) => g(m).node as InstanceType<typeof onnx.NodeProto>[];

/** Semantic mutations: each edits the decoded model in place, or returns false when it does not apply. */
function semantic(secretPaths: readonly string[]): Record<string, (m: Model, r: Rand) => boolean> {
  return {
    external: (m, r) => {
      const ts = tensorsOf(m);
      if (!ts.length) return false;
      const t = pick(r, ts);
      t.dataLocation = 1;
      t.externalData = [{ key: 'location', value: pick(r, secretPaths) }];
      if (r() < 0.5) t.rawData = new Uint8Array(0);
      return true;
    },
    hugedims: (m, r) => {
      const ts = tensorsOf(m);
      if (!ts.length) return false;
      pick(r, ts).dims = pick(r, [[2 ** 32], [2 ** 40], [-1], [2 ** 20, 2 ** 20, 2 ** 20, 2 ** 20], [0, 5]]);
      return true;
    },
    shortdata: (m, r) => {
      const ts = tensorsOf(m).filter((t) => (t.rawData?.length ?? 0) > 0);
      if (!ts.length) return false;
      const t = pick(r, ts);
      t.rawData = t.rawData!.slice(0, int(r, t.rawData!.length));
      return true;
    },
    twowriters: (m, r) => {
      const ns = nodesOf(m);
      if (ns.length < 2) return false;
      const i = int(r, ns.length);
      const j = int(r, ns.length);
      if (i === j) return false;
      ns[j]!.output[0] = ns[i]!.output[0]!;
      return true;
    },
    opset: (m, r) => {
      m.opsetImport[0]!.version = pick(r, [0, -1, 9999, 27, 1, 6]);
      return true;
    },
    irversion: (m, r) => {
      m.irVersion = pick(r, [0, 2, 14, 99, -3]);
      return true;
    },
    dropnode: (m, r) => {
      const ns = nodesOf(m);
      if (!ns.length) return false;
      ns.splice(int(r, ns.length), 1);
      return true;
    },
    swapnodes: (m, r) => {
      const ns = nodesOf(m);
      if (ns.length < 2) return false;
      const i = int(r, ns.length);
      const j = int(r, ns.length);
      [ns[i], ns[j]] = [ns[j]!, ns[i]!];
      return true;
    },
    miswire: (m, r) => {
      const ns = nodesOf(m).filter((n) => n.input.length);
      if (!ns.length) return false;
      const n = pick(r, ns);
      const names = [...g(m).input.map((v) => v.name ?? ''), ...g(m).initializer.map((t) => t.name ?? ''), 'nowhere', ''];
      n.input[int(r, n.input.length)] = pick(r, names);
      return true;
    },
    elemtype: (m, r) => {
      const vs = [...g(m).input, ...g(m).output];
      const v = pick(r, vs);
      if (!v.type?.tensorType) return false;
      v.type.tensorType.elemType = pick(r, [0, 3, 7, 10, 11, 16, 99]);
      return true;
    },
    inputdims: (m, r) => {
      const v = pick(r, g(m).input);
      const dims = v?.type?.tensorType?.shape?.dim;
      if (!dims?.length) return false;
      const d = pick(r, dims);
      d.dimValue = pick(r, [0, -1, 2 ** 31, 3, 1]) as unknown as typeof d.dimValue;
      d.dimParam = '';
      return true;
    },
    attrint: (m, r) => {
      const attrs = nodesOf(m).flatMap((n) => n.attribute.filter((a) => a.type === 2 || a.type === 7));
      if (!attrs.length) return false;
      const a = pick(r, attrs);
      const v = pick(r, [99, -99, 2 ** 31, 0, -1]);
      if (a.type === 2) a.i = v as unknown as typeof a.i;
      else a.ints = (a.ints?.length ? a.ints.map((x, k) => (k === 0 ? v : x)) : [v]) as typeof a.ints;
      return true;
    },
    looptrips: (m, r) => {
      // a Loop (at any depth) given a trip count of 2^62 and, half the time, a body whose condition
      // passes its input through (onnxruntime honours the body's condition even without a cond input)
      const loops = allGraphs(m).flatMap((site) => (site.graph.node ?? []).filter((n) => n.opType === 'Loop'));
      if (!loops.length) return false;
      const loop = pick(r, loops);
      const name = 'fuzz_trips';
      if (!g(m).initializer.some((t) => t.name === name)) {
        g(m).initializer.push(onnx.TensorProto.create({ name, dims: [], dataType: 7, rawData: new Uint8Array(new BigInt64Array([1n << 62n]).buffer) }));
      }
      loop.input![0] = name;
      const body = loop.attribute?.find((a) => a.name === 'body')?.g;
      if (body?.output?.[0] && body.input?.[1] && r() < 0.5) body.output[0].name = body.input[1].name;
      return true;
    },
  };
}

/**
 * `count` mutants of `seed`: the `always` semantic kinds first, then about two in three binary and
 * one in three semantic, from generator `r`. `secretPaths` are the external-data locations
 * semantic mutants point at.
 */
export function mutants(seed: Uint8Array, count: number, r: Rand, secretPaths: readonly string[], always: readonly string[] = []): Mutation[] {
  const out: Mutation[] = [];
  const sem = semantic(secretPaths);
  // semantic mutations every seed of this kind gets, whatever the draw
  for (const kind of always) {
    const m = onnx.ModelProto.decode(seed);
    if (sem[kind]!(m, r)) out.push({ kind, bytes: onnx.ModelProto.encode(m).finish() });
  }
  const binKinds = Object.keys(binary);
  const semKinds = Object.keys(sem);
  let guard = 0;
  while (out.length < count && guard++ < count * 20) {
    if (r() < 0.62) {
      const kind = pick(r, binKinds);
      out.push({ kind, bytes: binary[kind]!(seed, r) });
    } else {
      const kind = pick(r, semKinds);
      const m = onnx.ModelProto.decode(seed);
      if (sem[kind]!(m, r)) out.push({ kind, bytes: onnx.ModelProto.encode(m).finish() });
    }
  }
  return out;
}
