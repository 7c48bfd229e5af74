/**
 * A DEQ on an imported .onnx cell (src/nn/onnxCell.ts) and the write-back of trained initializers
 * (src/onnx/initializers.ts): how z and x are found, how the injection and head fit the declared
 * shapes, what a cell that cannot fit says, gradients against central differences in float64, and
 * written files that onnxruntime-node runs to the library's values with everything but the
 * initializers' data kept.
 */
import { readdirSync, readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fixedPoint, importOnnx, jit, np, Rng, Tensor, valueAndGrad, type Value } from '../src/index.js';
import { cellShapes, onnxCellModel, readOnnxCell, writeBackCell, type OnnxCellParams } from '../src/nn/onnxCell.js';
import { replaceInitializers } from '../src/onnx/initializers.js';
import { tensorFromProto } from '../src/onnx/proto.js';
import { treeFlatten, treeUnflatten } from '../src/core/pytree.js';
import { crossEntropyLoss } from '../src/train/losses.js';
import { cellModelOf, cellSourceOf } from '../src/train/cellSource.js';
import { relErr } from './helpers/gradcheck.js';
import { tanhCellBytes } from './helpers/onnx-cell.js';

const { onnx } = onnxProto;
const ZOO = new URL('./fixtures/zoo/', import.meta.url);
const CELLS = new URL('./fixtures/cells/', import.meta.url);
const zoo = (name: string) => new Uint8Array(readFileSync(new URL(`${name}.onnx`, ZOO)));
const cellFixture = (name: string) => new Uint8Array(readFileSync(new URL(`${name}.onnx`, CELLS)));
const DIGITS = { channels: 1, size: 28 };

/** Run an .onnx file in onnxruntime-node itself, feeds by name. */
async function ortRun(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.dtype, t.data as Float32Array, [...t.shape])])));
    const y = out[session.outputNames[0]!]!;
    return y.type === 'float64'
      ? new Tensor('float64', [...y.dims], Float64Array.from(y.data as Float64Array))
      : new Tensor('float32', [...y.dims], Float32Array.from(y.data as Float32Array));
  } finally {
    await session.release();
  }
}

/** Every weight moved by a seeded random amount (as training would). */
function perturbed(params: Readonly<Record<string, Tensor>>, seed: number, scale = 0.05): Record<string, Tensor> {
  const rng = new Rng(seed);
  return Object.fromEntries(Object.entries(params).map(([k, t]) => {
    const d = rng.randn(t.shape, t.dtype, scale).toArray();
    const moved = t.toArray().map((v, i) => v + d[i]!);
    return [k, new Tensor(t.dtype, t.shape, t.dtype === 'float64' ? Float64Array.from(moved) : Float32Array.from(moved))];
  }));
}

/** The decoded model as JSON with the initializers' data fields left out: what must not change. */
function structure(bytes: Uint8Array): unknown {
  const m = onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: String, bytes: String }) as { graph: { initializer?: Record<string, unknown>[] } };
  for (const t of m.graph.initializer ?? []) for (const k of ['rawData', 'floatData', 'doubleData', 'int32Data', 'int64Data']) delete t[k];
  return m;
}

describe('readOnnxCell: which inputs are z and x', () => {
  it('takes the inputs named z and x, in whatever order the file lists them', () => {
    const c = readOnnxCell(tanhCellBytes({ inputs: [['x', ['b', 3]], ['z', ['b', 3]]] }));
    expect([c.z.name, c.x.name, c.matchedBy]).toEqual(['z', 'x', 'name']);
  });

  it('by position the first input is z; a cell whose first input is x says its output does not fit', () => {
    // swapped_inputs.onnx: h_next = tanh(W h + U u) with inputs (u [?, 6], h [?, 12])
    expect(() => readOnnxCell(cellFixture('swapped_inputs'), { what: 'swapped_inputs.onnx' })).toThrow(
      'swapped_inputs.onnx: its output h_next is float32[?, 12] but z (u) is float32[?, 6]; a fixed-point cell returns a new z of z\'s shape and type; z and x were taken by position (the first and second input): choose them by name',
    );
    const c = readOnnxCell(cellFixture('swapped_inputs'), { inputs: { z: 'h', x: 'u' } });
    expect([c.z.name, c.x.name, c.matchedBy]).toEqual(['h', 'u', 'choice']);
  });

  it('names what is wrong: the number of inputs, a name the file lacks, the same name twice', () => {
    const three = tanhCellBytes({ inputs: [['z', ['b', 3]], ['x', ['b', 3]], ['bias', ['b', 3]]] });
    expect(() => readOnnxCell(three, { what: 'c.onnx' })).toThrow('c.onnx has 3 inputs (z: float32[?, 3], x: float32[?, 3], bias: float32[?, 3]); a cell takes two, the state z and the injected input x');
    expect(() => readOnnxCell(tanhCellBytes(), { what: 'c.onnx', inputs: { z: 'z', x: 'u' } })).toThrow('c.onnx has no input named u; its inputs are z: float32[?, 3], x: float32[?, 3]');
    expect(() => readOnnxCell(tanhCellBytes(), { inputs: { z: 'z', x: 'z' } })).toThrow(/two different inputs/);
  });
});

describe('cellSourceOf and cellModelOf: a cell file read once', () => {
  const bytes = tanhCellBytes();
  const read = cellSourceOf('c.onnx', bytes);
  const deq = { solver: 'forward' as const, maxIter: 5 };

  it('the model takes the cell already read (not imported again); from bytes it imports them', () => {
    // a read cell marked by a changed initializer: a model on it starts from the mark, one from the bytes does not
    const marked = cellSourceOf('c.onnx', bytes);
    const first = Object.values(marked.cell.imported.params)[0]!;
    (first.data as Float32Array).fill(7);
    const fromRead = cellModelOf(marked.source, marked, deq, DIGITS).init(new Rng(0)).params as OnnxCellParams<Tensor>;
    const fromBytes = cellModelOf(marked.source, bytes, deq, DIGITS).init(new Rng(0)).params as OnnxCellParams<Tensor>;
    expect(Object.values(fromRead.cell)[0]!.toArray().every((v) => v === 7)).toBe(true);
    expect(Object.values(fromBytes.cell)[0]!.toArray()).toEqual(Object.values(read.cell.imported.params)[0]!.toArray());
    expect(Object.values(fromBytes.cell)[0]!.toArray().some((v) => v !== 7)).toBe(true);
  });

  it('refuses a read cell or bytes of another file, and a read cell with other z and x', () => {
    const other = cellSourceOf('d.onnx', tanhCellBytes({ inputs: [['z', ['b', 4]], ['x', ['b', 4]]], output: ['z_next', ['b', 4]] }));
    expect(() => cellModelOf(read.source, other, deq, DIGITS)).toThrow(/the bytes given for the cell c.onnx have sha256 .*, the configuration names/);
    expect(() => cellModelOf(read.source, other.bytes, deq, DIGITS)).toThrow(/the bytes given for the cell c.onnx have sha256/);
    const swapped = { ...read.source, inputs: { z: 'x', x: 'z' } };
    expect(() => cellModelOf(swapped, read, deq, DIGITS)).toThrow('the cell c.onnx was read with z = z and x = x, the configuration names z = x and x = z');
    expect(() => cellModelOf(read.source, undefined, deq, DIGITS)).toThrow(/was not given its bytes/);
  });
});

describe('cellShapes: the cell against the images', () => {
  it('a fixed batch axis is refused with the export option that fixes it', () => {
    const c = readOnnxCell(tanhCellBytes({ inputs: [['z', [2, 3]], ['x', [2, 3]]], output: ['z_next', [2, 3]] }), { what: 'c.onnx' });
    expect(() => cellShapes(c, DIGITS)).toThrow("c.onnx declares a fixed batch size of 2 for z (z: float32[2, 3]); training and evaluation run other batch sizes. Export it with a dynamic batch axis, e.g. torch.onnx.export(..., dynamic_axes={'z': {0: 'batch'}, ...})");
  });

  it('image-shaped cells: H×W must be the images\' (the zoo ResNet is 6×6), or symbolic', () => {
    const resnet = readOnnxCell(zoo('resnet_groupnorm.opset17.float32'), { what: 'resnet.onnx' });
    expect(() => cellShapes(resnet, DIGITS)).toThrow("resnet.onnx: z (z) is float32[?, 8, 6, 6], images of 6×6, but the data's images are 28×28 (1 channel): export the cell at 28×28, or with dynamic height and width axes");
    expect(cellShapes(resnet, { channels: 3, size: 6 })).toEqual({ z: [8, 6, 6], x: [8, 6, 6] });
    expect(cellShapes(readOnnxCell(cellFixture('conv_groupnorm')), DIGITS)).toEqual({ z: [4, 28, 28], x: [4, 28, 28] });
  });

  it('another symbolic axis takes the other input\'s size, or says it cannot tell', () => {
    const c = readOnnxCell(tanhCellBytes({ inputs: [['z', ['b', 'd']], ['x', ['b', 3]]] }));
    expect(cellShapes(c, DIGITS)).toEqual({ z: [3], x: [3] });
    const both = readOnnxCell(tanhCellBytes({ inputs: [['z', ['b', 'd']], ['x', ['b', 'd']]], output: ['z_next', ['b', 'd']] }), { what: 'c.onnx' });
    expect(() => cellShapes(both, DIGITS)).toThrow('c.onnx: axis 1 of z (z: float32[?, ?]) has no fixed size, and nothing tells what it should be; export the cell with that axis fixed');
  });
});

describe('onnxCellModel', () => {
  it('params are { inj, cell: the file\'s float initializers by ONNX name, head }, sized from the declared shapes', () => {
    const shapesOf = (p: OnnxCellParams) => ({
      inj: Object.fromEntries(Object.entries(p.inj).map(([k, t]) => [k, (t as Tensor).shape])),
      head: (p.head.W as Tensor).shape,
    });
    const gated = readOnnxCell(zoo('gated.opset17.float32'));
    const g = onnxCellModel(gated, {}, DIGITS).init(new Rng(0)).params;
    expect(shapesOf(g)).toEqual({ inj: { W: [784, 16], b: [16] }, head: [16, 10] });
    expect(Object.keys(g.cell).sort()).toEqual(Object.keys(gated.imported.params).sort());
    for (const [k, t] of Object.entries(g.cell)) expect((t as Tensor).toArray()).toEqual(gated.imported.params[k]!.toArray());
    // tokens [?, 4, 16]: a linear map to 64 values reshaped; images [?, 4, H, W]: a 3×3 convolution
    const att = onnxCellModel(readOnnxCell(zoo('attention_gelu.opset17.float32')), {}, DIGITS).init(new Rng(0)).params;
    expect(shapesOf(att)).toEqual({ inj: { W: [784, 64], b: [64] }, head: [64, 10] });
    const conv = onnxCellModel(readOnnxCell(cellFixture('conv_groupnorm')), {}, DIGITS).init(new Rng(0)).params;
    expect(shapesOf(conv)).toEqual({ inj: { W: [4, 1, 3, 3], b: [4] }, head: [4 * 28 * 28, 10] });
  });

  it('feeds z and x to the file\'s inputs by role: logits match onnxruntime running the file on the injected input', async () => {
    // swapped_inputs lists x (u) first; one explicit application from z = 0 must put z into h
    const bytes = cellFixture('swapped_inputs');
    const cell = readOnnxCell(bytes, { inputs: { z: 'h', x: 'u' } });
    const model = onnxCellModel(cell, false, { channels: 1, size: 4 });
    const { params } = model.init(new Rng(3));
    const images = new Rng(4).uniform([5, 1, 4, 4], 'float32', 0, 1);
    const run = jit((p: OnnxCellParams, x: Value) => ({ logits: model.apply(p, {}, x, { train: false }).logits, x: model.deqParts!(p, {}, x).input }));
    const out = (await run(params, images)) as { logits: Tensor; x: Tensor };
    expect(out.x.shape).toEqual([5, 6]);
    const z1 = await ortRun(bytes, { u: out.x, h: new Tensor('float32', [5, 12]) });
    // head: z1 W + b, by hand
    const W = (params.head.W as Tensor).toArray();
    const b = (params.head.b as Tensor).toArray();
    const z = z1.toArray();
    const want = Array.from({ length: 50 }, (_, i) => {
      const [r, c] = [Math.floor(i / 10), i % 10];
      let s = b[c]!;
      for (let k = 0; k < 12; k++) s += z[r * 12 + k]! * W[k * 10 + c]!;
      return s;
    });
    expect(relErr(out.logits, new Tensor('float64', [5, 10], Float64Array.from(want)))).toBeLessThan(1e-5);
  });

  it('solves the fixed point of the file\'s cell: z* = f(z*, x) with f run by onnxruntime from the file', async () => {
    const bytes = zoo('mlp_layernorm.opset13.float32');
    const model = onnxCellModel(readOnnxCell(bytes), { tol: 1e-6, maxIter: 100 }, DIGITS);
    const { params } = model.init(new Rng(0));
    const images = new Rng(1).uniform([7, 1, 28, 28], 'float32', 0, 1);
    const solve = jit((p: OnnxCellParams, imgs: Value) => {
      const { input, cell, cellParams } = model.deqParts!(p, {}, imgs);
      const { value, stats } = fixedPoint(cell, np.zerosOf([7, 16]), [input, cellParams], { tol: 1e-6, maxIter: 100 });
      return { x: input, z: value, converged: stats.converged };
    });
    const r = (await solve(params, images)) as { x: Tensor; z: Tensor; converged: Tensor };
    expect(r.converged.item()).toBe(1);
    expect(relErr(await ortRun(bytes, { z: r.z, x: r.x }), r.z)).toBeLessThan(1e-5);
  });
});

describe('gradients of a cell model, float64', () => {
  it('the implicit gradient with respect to every parameter (injection, each ONNX initializer, head) matches central differences', async () => {
    const model = onnxCellModel(readOnnxCell(zoo('gated.opset17.float64')), { solver: 'anderson', tol: 1e-13, maxIter: 200, backwardTol: 1e-13, backwardMaxIter: 200 }, { channels: 1, size: 6 });
    const { params } = model.init(new Rng(5));
    const rng = new Rng(6);
    const images = rng.uniform([4, 1, 6, 6], 'float32', 0, 1);
    const labels = new Tensor('int64', [4], BigInt64Array.from([3n, 1n, 4n, 1n]));
    const loss = (p: OnnxCellParams, x: Value, y: Value) => crossEntropyLoss(model.apply(p, {}, x, { train: true }).logits, y);
    const [value, grads] = (await jit(valueAndGrad(loss))(params, images, labels)) as [Tensor, OnnxCellParams];
    const lossAt = jit(loss);
    const [leaves, def] = treeFlatten<Tensor>(params);
    const [gLeaves] = treeFlatten<Tensor>(grads);
    expect(leaves.map((l) => l.dtype)).toEqual(leaves.map(() => 'float64'));
    const eps = 1e-5;
    for (let d = 0; d < 2; d++) {
      const u = leaves.map((l) => rng.randn(l.shape, 'float64'));
      const shifted = (s: number) => treeUnflatten<OnnxCellParams>(def, leaves.map((l, i) => new Tensor('float64', l.shape, (l.data as Float64Array).map((v, j) => v + s * eps * (u[i]!.data as Float64Array)[j]!))));
      const fd = (((await lossAt(shifted(1), images, labels)) as Tensor).item() - ((await lossAt(shifted(-1), images, labels)) as Tensor).item()) / (2 * eps);
      const analytic = gLeaves.reduce((s, g, i) => s + (g.data as Float64Array).reduce((a, v, j) => a + v * (u[i]!.data[j] as number), 0), 0);
      expect(Math.abs(analytic - fd) / Math.abs(fd), `direction ${d}: ${analytic} vs ${fd}`).toBeLessThan(1e-6);
    }
    expect(value.item()).toBeGreaterThan(0);
    // every one of the file's weights gets a gradient
    for (const [k, g] of Object.entries(grads.cell)) expect(Math.max(...(g as Tensor).toArray().map(Math.abs)), k).toBeGreaterThan(0);
  });
});

describe('writing trained initializers back', () => {
  const ZOO_FILES = readdirSync(ZOO).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();

  it('with the file\'s own values, every zoo file comes back byte for byte', () => {
    expect(ZOO_FILES).toHaveLength(20);
    for (const name of ZOO_FILES) {
      const bytes = zoo(name);
      const out = replaceInitializers(bytes, importOnnx(bytes).params, name);
      expect(Buffer.compare(Buffer.from(out), Buffer.from(bytes)), name).toBe(0);
    }
  });

  it('with new values: only the initializers\' data change, and onnxruntime-node gives the library\'s values at batch 1 and 7', async () => {
    for (const name of ['gated.opset17.float32', 'mlp_layernorm.opset13.float32', 'attention_gelu.opset17.float32', 'conv_batchnorm.opset17.float32', 'resnet_groupnorm.opset13.float32']) {
      const bytes = zoo(name);
      const imported = importOnnx(bytes, name);
      const trained = perturbed(imported.params, 7);
      const out = writeBackCell(bytes, trained, name);
      expect(structure(out), name).toEqual(structure(bytes));
      // the values read back are the trained ones, bit for bit
      const back = onnx.ModelProto.decode(out);
      for (const t of back.graph!.initializer!) {
        if (trained[t.name!]) expect(tensorFromProto(t, name).data, `${name} ${t.name}`).toEqual(trained[t.name!]!.data);
      }
      const f = jit((w: Record<string, Value>, z: Value, x: Value) => imported.apply(w, z, x)[0]!);
      for (const batch of [1, 7]) {
        const rng = new Rng(batch);
        const shape = [batch, ...imported.inputs[0]!.shape.slice(1).map((d) => d!)];
        const z = rng.randn(shape, 'float32', 0.5);
        const x = rng.randn(shape, 'float32', 0.5);
        const lib = (await f(trained, z, x)) as Tensor;
        const err = relErr(await ortRun(out, { z, x }), lib);
        expect(err, `${name} at batch ${batch}`).toBeLessThan(name.startsWith('resnet') || name.startsWith('conv') ? 3e-5 : 1e-5);
        // and the trained values are not the old ones: the original file gives something else
        expect(relErr(await ortRun(bytes, { z, x }), lib), name).toBeGreaterThan(1e-3);
      }
    }
  });

  it('an initializer stored in float_data is written as raw_data; names, doc strings and the rest are kept', async () => {
    const bytes = tanhCellBytes({ floatData: true, docString: 'a hand-written cell' });
    const W = new Tensor('float32', [3, 3], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9].map((v) => v / 10)));
    const out = replaceInitializers(bytes, { W });
    const m = onnx.ModelProto.decode(out);
    const t = m.graph!.initializer![0]!;
    expect([t.floatData?.length ?? 0, t.rawData?.length ?? 0]).toEqual([0, 36]);
    expect(tensorFromProto(t, 'out').toArray()).toEqual(W.toArray());
    expect([m.docString, m.producerName, m.graph!.node!.find((n) => n.opType === 'MatMul')!.name]).toEqual(['a hand-written cell', 'hand', 'matmul']);
    const z = new Tensor('float32', [1, 3], Float32Array.from([1, 0, 0]));
    const x = new Tensor('float32', [1, 3]);
    expect((await ortRun(out, { z, x })).toArray().map((v) => +v.toFixed(6))).toEqual([0.1, 0.2, 0.3].map((v) => +Math.tanh(v).toFixed(6)));
  });

  it('refuses a value that does not fit its initializer, by name', () => {
    const bytes = tanhCellBytes();
    expect(() => replaceInitializers(bytes, { V: new Tensor('float32', [3, 3]) }, 'c.onnx')).toThrow('c.onnx: no initializer named V; its initializers are W');
    expect(() => replaceInitializers(bytes, { W: new Tensor('float32', [9]) }, 'c.onnx')).toThrow('c.onnx: initializer W is float32[3, 3]; the new value is float32[9]');
    expect(() => replaceInitializers(bytes, { W: new Tensor('float64', [3, 3]) }, 'c.onnx')).toThrow('c.onnx: initializer W is float32[3, 3]; the new value is float64[3, 3]');
    expect(() => writeBackCell(bytes, {}, 'c.onnx')).toThrow('the trained weights do not fit c.onnx: missing W; they come from a run on another cell file');
    expect(() => writeBackCell(bytes, { W: new Tensor('float32', [3, 3]), V: new Tensor('float32', [1]) }, 'c.onnx')).toThrow(/not weights of the file: V/);
  });
});
