/**
 * The child process of `deq check` (and of checkParity's child runner): receives one parity job
 * over IPC, runs it on the runtime it is told, and sends the result back. A child, because
 * onnxruntime-node's WebGPU provider picks its Vulkan driver from the environment at start-up.
 */
import type { RuntimeOptions } from '../backend/runtime.js';
import { inProcessRunner } from '../onnx/parity.js';
import { decodeJob, encodeRun, type WireJob, type WireRun } from '../onnx/parity-wire.js';

export interface ChildRequest { job: WireJob; runtime: RuntimeOptions }
export type ChildReply = { run: WireRun } | { absent: string } | { error: string };

function reply(m: ChildReply): void {
  process.send!(m, () => process.exit(0));
}

if (!process.send) {
  console.error('check-child runs as a child process of deq check, with an IPC channel');
  process.exit(2);
}

process.once('message', (msg: ChildRequest) => {
  inProcessRunner('child', msg.runtime)
    .run(decodeJob(msg.job))
    .then((r) => reply('absent' in r ? { absent: r.absent } : { run: encodeRun(r) }))
    .catch((e: unknown) => reply({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }));
});
