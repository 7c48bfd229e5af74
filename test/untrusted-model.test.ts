/**
 * Untrusted models, what a file declares: onnxruntime runs the model the library checked (one
 * parse), declared sizes are checked against the bytes present before any allocation, and the
 * model-level rules of the ONNX checker (versions, one writer per value, definition before use,
 * consistent inputs and initializers) hold before import or load.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { importOnnx, loadOnnx, OnnxError, Tensor } from '../src/index.js';
import { bundle, root, runNode } from './helpers/child.js';
import { attr, buildModel, encodeObject, floats, node, vi } from './helpers/onnx-build.js';
import { sizeCases } from './helpers/size-cases.js';

const { onnx } = onnxProto;

describe('one parse: onnxruntime runs the model the library decoded', () => {
  const original = readFileSync(join(root, 'onnx-models/resnet_cell.cell.onnx'));
  // 0a 02 08 40 (a dimension of 64) → 0a 00 08 40: protobufjs reads 08 40 as a 64-byte message
  // and swallows the next graph input; onnxruntime's parser skips it as an unknown field
  const flips = [...original.toString('hex').matchAll(/0a020840/g)].filter((m) => m.index! % 2 === 0).map((m) => m.index! / 2);

  it('a one-bit flip that hides graph inputs from protobufjs (8 inputs here, 10 in onnxruntime) is an OnnxError, at each place it occurs', async () => {
    expect(flips.length).toBeGreaterThan(0);
    for (const at of flips) {
      const b = Uint8Array.from(original);
      b[at + 1] = 0;
      expect(onnx.ModelProto.decode(b).graph?.input?.length).toBe(8);
      const got = await loadOnnx(b).then(
        (m) => m.run(m.inputs.map((i) => new Tensor(i.dtype, i.shape.map((d) => d ?? 1)))),
        (e: unknown) => e,
      );
      expect(got).toBeInstanceOf(OnnxError);
      expect((got as Error).message).toMatch(/reads 'params\.\w+\.\w+', which is not defined before it/);
    }
  });

  it('a graph field written twice (protobufjs keeps the last, C++ protobuf merges both) runs as decoded', async () => {
    const graphA = { node: [node('Neg', ['x'], ['t'])], output: [vi('t', [2])] };
    const graphB = { name: 'g', node: [node('Relu', ['x'], ['y'])], input: [vi('x', [2])], output: [vi('y', [2])] };
    const head = encodeObject({ irVersion: 8, opsetImport: [{ domain: '', version: 18 }], graph: graphA });
    const tail = encodeObject({ graph: graphB });
    const bytes = new Uint8Array([...head, ...tail]);
    const m = await loadOnnx(bytes);
    expect(m.outputs.map((o) => o.name)).toEqual(['y']);
    expect(m.session.outputNames).toEqual(['y']);
    const out = await m.run([new Tensor('float32', [2], Float32Array.from([-1, 2]))]);
    expect(Object.keys(out)).toEqual(['y']);
    expect(out.y!.toArray()).toEqual([0, 2]);
    await m.release();
  });
});

describe('declared sizes are checked against the bytes present before allocating', () => {
  let script: string | undefined;
  afterAll(() => script && rmSync(script, { force: true }));

  it('in a child process with 1.5 GiB of address space, every case is an OnnxError naming the tensor', async () => {
    script = await bundle('test/helpers/size-child.ts');
    const r = await runNode(script, [], { memoryMB: 1536, heapMB: 256, timeoutMs: 120_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; tensor: string; api: string; bytes: number; error: string | null; message?: string });
    expect(lines.length).toBe(2 * sizeCases.length);
    for (const l of lines) {
      expect(l.error, `${l.api}: ${l.name}: ${l.message}`).toBe('OnnxError');
      expect(l.message).toContain(`tensor '${l.tensor}'`);
    }
    // the first case (dims 2^32): a file of a few hundred bytes that declares 16 GiB
    expect(lines[0]!.bytes).toBeLessThan(700);
  });

  it('a 2^40-element initializer is an OnnxError, not a RangeError, in this process too', async () => {
    const bytes = sizeCases[1]!.bytes();
    expect(() => importOnnx(bytes)).toThrow(OnnxError);
    expect(() => importOnnx(bytes)).toThrow(/4096 GiB: more than the 2 GiB a tensor may declare/);
    await expect(loadOnnx(bytes)).rejects.toThrow(OnnxError);
  });
});

describe('model-level checks (the ONNX checker\'s, before import or load)', () => {
  const relu = (over: Partial<Parameters<typeof buildModel>[0]> = {}) =>
    buildModel({ nodes: [node('Relu', ['x'], ['y'])], inputs: [vi('x', [2])], outputs: [vi('y', [2])], ...over });

  const refused: { what: string; bytes: () => Uint8Array; message: RegExp }[] = [
    {
      what: 'two nodes writing one output',
      bytes: () => relu({ nodes: [node('Relu', ['x'], ['y'], [], 'first'), node('Neg', ['x'], ['y'], [], 'second')] }),
      message: /'y' is written twice, by node 'first' \(Relu\) in the main graph and by node 'second' \(Neg\)/,
    },
    { what: 'a node writing a graph input', bytes: () => relu({ nodes: [node('Relu', ['x'], ['x']), node('Relu', ['x'], ['y'])] }), message: /'x' is written twice/ },
    ...[0, -1, 9999].map((opset) => ({ what: `opset ${opset}`, bytes: () => relu({ opset }), message: /opset/ })),
    { what: 'IR version 0', bytes: () => relu({ ir: 0 }), message: /no ONNX graph or IR version/ },
    ...[2, 99].map((ir) => ({ what: `IR version ${ir}`, bytes: () => relu({ ir }), message: new RegExp(`IR version ${ir} is outside the supported range 3\\.\\.13`) })),
    {
      what: 'the ai.onnx opset imported twice',
      bytes: () => relu({ extraOpsets: [{ domain: 'ai.onnx', version: 13 }] }),
      message: /imported twice/,
    },
    {
      what: 'a node reading a value defined only after it',
      bytes: () => relu({ nodes: [node('Relu', ['t'], ['y'], [], 'late'), node('Neg', ['x'], ['t'])] }),
      message: /node 'late' \(Relu\) in the main graph reads 't', which is not defined before it/,
    },
    {
      what: 'a graph output nothing computes',
      bytes: () => relu({ outputs: [vi('y', [2]), vi('nowhere', [2])] }),
      message: /output 'nowhere' of the main graph is not computed/,
    },
    {
      what: 'two initializers of one name',
      bytes: () => relu({ nodes: [node('Add', ['x', 'W'], ['y'])], initializers: [floats('W', [2], [1, 2]), floats('W', [2], [3, 4])] }),
      message: /two initializers are named 'W'/,
    },
    {
      what: 'an initializer whose shape disagrees with the graph input of its name',
      bytes: () => relu({ nodes: [node('Add', ['x', 'W'], ['y'])], inputs: [vi('x', [2]), vi('W', [3])], initializers: [floats('W', [2], [1, 2])] }),
      message: /initializer 'W' of the main graph has shape \[2\] but the graph input of that name declares \[3\]/,
    },
    {
      what: 'an initializer whose type disagrees with the graph input of its name',
      bytes: () => relu({ nodes: [node('Add', ['x', 'W'], ['y'])], inputs: [vi('x', [2]), vi('W', [2], 11)], initializers: [floats('W', [2], [1, 2])] }),
      message: /initializer 'W' of the main graph has data type 1 but the graph input of that name declares 11/,
    },
    {
      what: 'an attribute without a type',
      bytes: () => relu({ nodes: [node('Softmax', ['x'], ['y'], [{ name: 'axis', i: 0 }], 'sm')] }),
      message: /attribute axis of node 'sm' \(Softmax\) in the main graph has no valid type \(0\)/,
    },
    {
      what: 'an attribute given twice',
      bytes: () => relu({ nodes: [node('Softmax', ['x'], ['y'], [attr.int('axis', 0), attr.int('axis', -1)], 'sm')] }),
      message: /node 'sm' \(Softmax\) in the main graph has attribute axis twice/,
    },
    {
      what: 'a TENSOR attribute holding no tensor',
      bytes: () => relu({ nodes: [node('Constant', [], ['y'], [{ name: 'value', type: 4 }], 'k')] }),
      message: /attribute value of node 'k' \(Constant\) in the main graph is of type 4 but holds no value/,
    },
    { what: 'two graph inputs of one name', bytes: () => relu({ inputs: [vi('x', [2]), vi('x', [2])] }), message: /'x' is written twice/ },
    {
      what: 'a Loop body writing a name of the graph around it',
      bytes: () => {
        const body = { name: 'body', node: [node('Identity', ['cond'], ['x'])], input: [vi('i', [], 7), vi('cond', [], 9)], output: [vi('x', [], 9)] };
        return buildModel({
          nodes: [node('Loop', ['', ''], [], [{ name: 'body', type: 5, g: body }]), node('Relu', ['x'], ['y'])],
          inputs: [vi('x', [2])],
          outputs: [vi('y', [2])],
        });
      },
      message: /'x' is written twice, by an input in the main graph and by node #0 \(Identity\) in attribute body of node \(Loop\)/,
    },
  ];

  for (const c of refused) {
    it(`${c.what}: importOnnx and loadOnnx refuse it with an OnnxError`, async () => {
      const bytes = c.bytes();
      expect(() => importOnnx(bytes)).toThrow(OnnxError);
      expect(() => importOnnx(bytes)).toThrow(c.message);
      await expect(loadOnnx(bytes)).rejects.toThrow(c.message);
    });
  }

  it('the same checks pass the models this project ships and exports', async () => {
    for (const f of ['tanh_cell.cell.onnx', 'tanh_cell.vjp.onnx', 'resnet_cell.cell.onnx', 'resnet_cell.jvp.onnx', 'resnet_cell.vjp.onnx']) {
      const m = await loadOnnx(join(root, 'onnx-models', f));
      await m.release();
    }
    expect(importOnnx(relu()).outputs.map((o) => o.name)).toEqual(['y']);
    // an initializer listed as a graph input too (its default) is allowed
    const withDefault = buildModel({ nodes: [node('Add', ['x', 'W'], ['y'])], inputs: [vi('x', [2]), vi('W', [2])], initializers: [floats('W', [2], [1, 2])], outputs: [vi('y', [2])] });
    expect(importOnnx(withDefault).params.W!.toArray()).toEqual([1, 2]);
  });
});
