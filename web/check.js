/**
 * The browser side of `deq check` and of the browser test: window.deqCheck runs a parity job
 * (cell bytes, inputs and solve settings, as parityWire data) on onnxruntime-web with the providers
 * asked for, and says what WebGPU adapter the page has.
 */
import * as deq from '/dist/browser/deq-onnx.js';
import { makeTrainStep } from '/web/train-step.js';

const { parityWire, runParityJob } = deq;

/** What console.log printed since the last call (onnxruntime-web's profiles among it). */
function printedProfile() {
  const text = window.printed.join('\n');
  window.printed.length = 0;
  return text;
}

/** The WebGPU adapter the page gets, or why there is none. */
async function adapter() {
  if (!navigator.gpu) return { error: 'navigator.gpu is undefined: WebGPU is off (Chromium needs --enable-unsafe-webgpu, and a secure context)' };
  const a = await navigator.gpu.requestAdapter();
  if (!a) return { error: 'navigator.gpu.requestAdapter() returned null: no WebGPU adapter' };
  const i = a.info ?? {};
  return { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '', fallback: Boolean(a.isFallbackAdapter ?? i.isFallbackAdapter) };
}

async function run(wireJob, executionProviders, profile = true) {
  const job = parityWire.decodeJob(wireJob);
  const result = await runParityJob(job, { runtime: 'web', executionProviders, profile }, { printedProfile });
  return parityWire.encodeRun(result);
}

/** One training step of the cell's weights (web/train-step.js); returns the loss and the new weights. */
async function trainStep(wireJob, executionProviders, lr) {
  const job = parityWire.decodeJob(wireJob);
  const model = deq.importOnnx(job.model, 'the cell');
  const [, ...xNames] = model.inputs.map((i) => i.name);
  const xs = xNames.map((n) => job.inputs.values[n]);
  const step = makeTrainStep(deq, model, job.solve, { runtime: 'web', executionProviders });
  try {
    const out = await step(model.params, xs, job.inputs.cotangent, lr);
    const provider = (await step.compile(model.params, xs, job.inputs.cotangent, lr)).session.provider;
    return { loss: parityWire.encodeTensor(out.loss), params: Object.fromEntries(Object.entries(out.params).map(([k, v]) => [k, parityWire.encodeTensor(v)])), provider };
  } finally {
    await step.release();
  }
}

window.deqCheck = { adapter, run, trainStep, crossOriginIsolated: self.crossOriginIsolated };
document.getElementById('status').textContent = 'ready';
