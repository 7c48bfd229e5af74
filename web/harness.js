/**
 * Browser harness: runs the tutorial's tanh cell z' = tanh(z W + x) and the gradient of
 * sum(z' * ct) with respect to W, jit-compiled to ONNX and run by onnxruntime-web (wasm).
 * Tests call window.runTanhCell with plain arrays and compare with Node.
 */
import { grad, jit, np, Rng, Tensor } from '/dist/browser/deq-onnx.js';

const cell = (p, z, x) => np.tanh(np.add(np.matmul(z, p.W), x));
const loss = (p, z, x, ct) => np.sum(np.mul(cell(p, z, x), ct));

const arrays = { float32: Float32Array, float64: Float64Array };
const toTensor = ({ shape, data }, dtype) => new Tensor(dtype, shape, arrays[dtype].from(data));
const plain = (t) => ({ shape: [...t.shape], data: Array.from(t.data) });

/** inputs: { dtype, W, z, x, ct } as { shape, data }; returns the cell output, dL/dW and the provider. */
async function runTanhCell(inputs) {
  const { dtype } = inputs;
  const [W, z, x, ct] = ['W', 'z', 'x', 'ct'].map((k) => toTensor(inputs[k], dtype));
  const jitted = jit(cell);
  const out = await jitted({ W }, z, x);
  const g = await jit(grad(loss))({ W }, z, x, ct);
  const { session } = await jitted.compile({ W }, z, x);
  return { out: plain(out), gradW: plain(g.W), runtime: session.runtime, provider: session.provider };
}
window.runTanhCell = runTanhCell;

// a demo run when the page is opened by hand
(async () => {
  const status = document.getElementById('status');
  try {
    const rng = new Rng(0);
    const mk = (shape, std) => plain(rng.randn(shape, 'float32', std));
    const r = await runTanhCell({ dtype: 'float32', W: mk([8, 8], 0.3), z: mk([4, 8], 1), x: mk([4, 8], 1), ct: mk([4, 8], 1) });
    status.textContent = `ran on onnxruntime-${r.runtime} (${r.provider}), crossOriginIsolated=${self.crossOriginIsolated}`;
    document.getElementById('out').textContent = `z' [0, :4] = ${r.out.data.slice(0, 4).map((v) => v.toFixed(5)).join(', ')}\n` +
      `dL/dW [0, :4] = ${r.gradW.data.slice(0, 4).map((v) => v.toFixed(5)).join(', ')}`;
  } catch (e) {
    status.textContent = `failed: ${e && e.message ? e.message : e}`;
  }
  window.harnessReady = true;
})();
