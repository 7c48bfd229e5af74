/**
 * Untrusted models, external data: a tensor that points at a file (`data_location = EXTERNAL`)
 * would be read by onnxruntime relative to the process's current directory. Each place a tensor can
 * sit in a model is tried with a real secret file in the current directory: the bytes never come
 * back, and the error names the tensor.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importOnnx, loadOnnx, OnnxError, Tensor } from '../src/index.js';
import { attr, buildModel, external, floats, int64s, loopModel, node, type Obj, vi } from './helpers/onnx-build.js';

const SECRET = 'SECRETSECRETSECR'; // 16 bytes: four float32s
const secretFloats = Array.from(new Float32Array(new Uint8Array(Buffer.from(SECRET)).buffer));
const x = new Tensor('float32', [4], Float32Array.from([0, 0, 0, 0]));

let cwd: string;
let dir: string;
beforeAll(() => {
  cwd = process.cwd();
  dir = mkdtempSync(join(tmpdir(), 'deq-external-'));
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  process.chdir(dir);
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

const addC = (c: string) => node('Add', ['x', c], ['y']);
const sparseOf = (values: Obj) => ({ values, indices: int64s('idx', [4], [0, 1, 2, 3]), dims: [4] });

/** Each place a tensor can sit, with the name the error must give. */
const places: { where: string; tensor: string; bytes: () => Uint8Array }[] = [
  {
    where: 'a top-level initializer',
    tensor: 'W',
    bytes: () => buildModel({ nodes: [addC('W')], initializers: [external('W', [4], 'secret.txt')], inputs: [vi('x', [4])], outputs: [vi('y', [4])] }),
  },
  { where: 'an initializer of a Loop body', tensor: 'c', bytes: () => loopModel([external('c', [4], 'secret.txt')]) },
  {
    where: 'a sparse initializer',
    tensor: 'S',
    bytes: () =>
      buildModel({ nodes: [addC('S')], sparseInitializers: [sparseOf(external('S', [4], 'secret.txt'))], inputs: [vi('x', [4])], outputs: [vi('y', [4])] }),
  },
  {
    where: 'a Constant attribute',
    tensor: 'k',
    bytes: () =>
      buildModel({
        nodes: [node('Constant', [], ['k'], [attr.tensor('value', external('k', [4], 'secret.txt'))]), addC('k')],
        inputs: [vi('x', [4])],
        outputs: [vi('y', [4])],
      }),
  },
  {
    where: 'a sparse Constant attribute',
    tensor: 'sk',
    bytes: () =>
      buildModel({
        nodes: [node('Constant', [], ['k'], [attr.sparse('sparse_value', sparseOf(external('sk', [4], 'secret.txt')))]), addC('k')],
        inputs: [vi('x', [4])],
        outputs: [vi('y', [4])],
      }),
  },
  {
    where: 'a Constant in an If branch inside a Loop body (depth 2)',
    tensor: 'deep',
    bytes: () => {
      const branch = (t: Obj) => ({ name: 'b', node: [node('Constant', [], ['r'], [attr.tensor('value', t)])], output: [vi('r', [4])] });
      return loopModel(
        [],
        [
          node('If', ['cond'], ['c'], [
            attr.graph('then_branch', branch(external('deep', [4], 'secret.txt'))),
            attr.graph('else_branch', branch(floats('zero', [4], [0, 0, 0, 0]))),
          ]),
        ],
      );
    },
  },
  {
    where: 'a Constant inside a model-local function',
    tensor: 'fk',
    bytes: () =>
      buildModel({
        nodes: [{ ...node('AddSecret', ['x'], ['y']), domain: 'local' }],
        inputs: [vi('x', [4])],
        outputs: [vi('y', [4])],
        extraOpsets: [{ domain: 'local', version: 1 }],
        functions: [
          {
            name: 'AddSecret',
            domain: 'local',
            input: ['a'],
            output: ['b'],
            opsetImport: [{ domain: '', version: 18 }],
            node: [node('Constant', [], ['k'], [attr.tensor('value', external('fk', [4], 'secret.txt'))]), node('Add', ['a', 'k'], ['b'])],
          },
        ],
      }),
  },
];

/** Load and run; whatever comes back must not hold the secret. */
async function attempt(bytes: Uint8Array, graphOptimizationLevel: 'disabled' | 'all'): Promise<unknown> {
  try {
    const m = await loadOnnx(bytes, { graphOptimizationLevel });
    const out = await m.run([x]);
    await m.release();
    return out;
  } catch (e) {
    return e;
  }
}

describe('external data is refused everywhere in a model', () => {
  for (const p of places) {
    it(`in ${p.where}: loadOnnx and importOnnx refuse it, naming tensor '${p.tensor}', and the secret never comes back`, async () => {
      const bytes = p.bytes();
      for (const level of ['disabled', 'all'] as const) {
        const got = await attempt(bytes, level);
        expect(got, `loadOnnx, optimisation ${level}`).toBeInstanceOf(OnnxError);
        const message = (got as Error).message;
        expect(message).toContain(`tensor '${p.tensor}'`);
        expect(message).toMatch(/external file 'secret\.txt'/);
        expect(message).not.toContain(SECRET);
      }
      expect(() => importOnnx(bytes)).toThrow(OnnxError);
      expect(() => importOnnx(bytes)).toThrow(`tensor '${p.tensor}'`);
    });
  }

  it('the same top-level model with its data inside the file runs (the refusal is about the external file)', async () => {
    const inline = buildModel({ nodes: [addC('W')], initializers: [floats('W', [4], secretFloats)], inputs: [vi('x', [4])], outputs: [vi('y', [4])] });
    const m = await loadOnnx(inline);
    const { y } = await m.run([x]);
    expect(Array.from(y!.data as Float32Array)).toEqual(secretFloats);
    await m.release();
  });

  it('a path, absolute or leading out of the folder, is refused the same way', async () => {
    for (const location of [join(dir, 'secret.txt'), '../secret.txt', 'sub/../secret.txt']) {
      const bytes = buildModel({ nodes: [addC('W')], initializers: [external('W', [4], location)], inputs: [vi('x', [4])], outputs: [vi('y', [4])] });
      const got = await attempt(bytes, 'disabled');
      expect(got).toBeInstanceOf(OnnxError);
      expect((got as Error).message).toContain("tensor 'W'");
    }
  });
});
