/**
 * An onnxruntime-node session in a child process. onnxruntime-node 1.30 runs a session
 * synchronously on the calling thread (a worker thread cannot be stopped either: it stays in native
 * code and keeps the process from exiting), and its RunOptions take no `terminate`. So a run that
 * must be stoppable runs in a child process, which is killed when the run's time is up or its
 * AbortSignal fires; a cap on the child's address space (`ulimit -v`) bounds what a graph allocates.
 * Node only (behind a dynamic import, so browser bundles never load it).
 */
import { InputError, OnnxError } from '../core/errors.js';

/** Options of a session's own process. */
export interface IsolateOptions {
  /**
   * Cap on the child's virtual memory in MiB (`ulimit -v`; POSIX shells only). onnxruntime
   * allocates what the graph computes: past the cap an allocation fails, and the run gives an
   * OnnxError instead of exhausting the machine. Node and onnxruntime themselves take about 1 GiB
   * of address space before any model loads.
   */
  maxMemoryMB?: number;
}

/** When to give up on a run. Both stop it by ending the session's process. */
export interface RunLimits {
  /** Stop a run that has not finished after this many milliseconds. */
  timeoutMs?: number;
  /** Stop a run when this signal aborts. */
  signal?: AbortSignal;
}

/** One way to create the session: an execution provider and onnxruntime's session options. */
export interface Attempt {
  provider: string;
  options: Record<string, unknown>;
}

/** A tensor as it crosses the process boundary (structured clone keeps typed arrays). */
export interface WireTensor {
  type: string;
  data: ArrayBufferView;
  dims: readonly number[];
}

/** The child's creation failed: one message per attempt. */
export class IsolatedCreateError extends Error {
  constructor(readonly failures: { provider: string; message: string }[]) {
    super(failures.map((f) => `${f.provider}: ${f.message}`).join('; '));
  }
}

export interface IsolatedSession {
  readonly provider: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, WireTensor>, limits: RunLimits): Promise<Record<string, WireTensor>>;
  release(): Promise<void>;
}

/** The child: plain CommonJS, so it needs no loader and no build step; argv[1] is onnxruntime-node's path. */
const CHILD = `
const ort = require(process.argv[1]);
let session;
const text = (e) => String((e && e.message) || e);
process.on('message', async (m) => {
  try {
    if (m.kind === 'create') {
      ort.env.logLevel = m.logLevel;
      const failures = [];
      for (const a of m.attempts) {
        try {
          session = await ort.InferenceSession.create(m.model, a.options);
          process.send({ kind: 'created', provider: a.provider, inputNames: session.inputNames, outputNames: session.outputNames });
          return;
        } catch (e) { failures.push({ provider: a.provider, message: text(e) }); }
      }
      process.send({ kind: 'failed', failures });
    } else if (m.kind === 'run') {
      const feeds = {};
      for (const k of Object.keys(m.feeds)) feeds[k] = new ort.Tensor(m.feeds[k].type, m.feeds[k].data, m.feeds[k].dims);
      const out = await session.run(feeds);
      const outputs = {};
      for (const k of Object.keys(out)) outputs[k] = { type: out[k].type, data: out[k].data, dims: out[k].dims };
      process.send({ kind: 'ran', outputs });
    }
  } catch (e) { process.send({ kind: 'error', message: text(e) }); }
});
process.on('disconnect', () => process.exit(0));
`;

interface Spec {
  model: Uint8Array;
  attempts: Attempt[];
  logLevel: string;
  verbose: boolean;
  isolate: IsolateOptions;
  what: string;
}

type Reply =
  | { kind: 'created'; provider: string; inputNames: string[]; outputNames: string[] }
  | { kind: 'failed'; failures: { provider: string; message: string }[] }
  | { kind: 'ran'; outputs: Record<string, WireTensor> }
  | { kind: 'error'; message: string };

/** A running child; `request` sends one message and waits for its reply (one at a time). */
class Child {
  private stderr = '';
  private waiting?: { resolve(r: Reply): void; reject(e: Error): void };
  private exited = false;
  /** Why this side ended the process, when it did (reported instead of guessing at a crash). */
  private killedBecause?: string;

  private constructor(private readonly proc: import('node:child_process').ChildProcess, private readonly what: string) {
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    proc.on('message', (r: Reply) => {
      const w = this.waiting;
      this.waiting = undefined;
      this.idle();
      w?.resolve(r);
    });
    proc.on('exit', (code, signal) => this.end(signal ?? `exit code ${code}`));
    proc.on('error', (e) => this.end(`could not start: ${e.message}`));
  }

  /** The process is gone: a request waiting for it fails with what is known about why. */
  private end(how: string): void {
    if (this.exited) return;
    this.exited = true;
    const w = this.waiting;
    this.waiting = undefined;
    if (this.killedBecause !== undefined) {
      w?.reject(new OnnxError(`${this.what}: onnxruntime's process was ended before it answered: ${this.killedBecause}`));
      return;
    }
    const last = this.stderr.replace(/\x1b\[[0-9;]*m/g, '').replace(/\s+/g, ' ').trim().slice(-300);
    w?.reject(
      new OnnxError(
        `${this.what}: onnxruntime's process ended (${how}) before it answered; ` +
          `it may have run out of memory (see maxMemoryMB)${last ? `. Its last words: ${last}` : ''}`,
      ),
    );
  }

  static async start(spec: Spec): Promise<Child> {
    const [{ spawn }, { createRequire }] = await Promise.all([import('node:child_process'), import('node:module')]);
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const node = [process.execPath, '-e', CHILD, ortPath];
    const mb = spec.isolate.maxMemoryMB;
    let argv = node;
    if (mb !== undefined) {
      if (!(Number.isFinite(mb) && mb > 0)) throw new InputError(`isolate.maxMemoryMB must be a positive number of MiB, got ${mb}`);
      if (process.platform === 'win32') throw new InputError('isolate.maxMemoryMB needs a POSIX shell (ulimit -v); leave it out on Windows');
      argv = ['/bin/sh', '-c', 'ulimit -v "$1" && shift && exec "$@"', 'sh', String(Math.floor(mb * 1024)), ...node];
    }
    const proc = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'ignore', spec.verbose ? 'inherit' : 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    return new Child(proc, spec.what);
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Send one request; the child is referenced (keeps the process alive) only while it works. */
  request(message: unknown): Promise<Reply> {
    if (this.exited) return Promise.reject(new OnnxError(`${this.what}: onnxruntime's process has ended`));
    return new Promise<Reply>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.proc.ref();
      this.proc.channel?.ref();
      this.proc.send(message as import('node:child_process').Serializable);
    });
  }

  private idle(): void {
    this.proc.unref();
    this.proc.channel?.unref();
  }

  /** End the process; `because` (if given) is what a request still waiting is told. */
  kill(because?: string): void {
    if (this.exited) return;
    this.killedBecause ??= because;
    this.proc.kill('SIGKILL');
  }
}

async function createIn(child: Child, spec: Spec): Promise<Extract<Reply, { kind: 'created' }>> {
  const r = await child.request({ kind: 'create', model: spec.model, attempts: spec.attempts, logLevel: spec.logLevel });
  if (r.kind === 'created') return r;
  child.kill();
  throw new IsolatedCreateError(r.kind === 'failed' ? r.failures : [{ provider: '?', message: r.kind === 'error' ? r.message : 'no reply' }]);
}

export async function startIsolated(spec: Spec): Promise<IsolatedSession> {
  let child = await Child.start(spec);
  const created = await createIn(child, spec);
  let queue: Promise<unknown> = Promise.resolve();
  let released = false;

  const runOnce = async (feeds: Record<string, WireTensor>, limits: RunLimits): Promise<Record<string, WireTensor>> => {
    if (released) throw new OnnxError(`${spec.what}: the session was released`);
    if (limits.signal?.aborted) throw stopped(spec.what, 'its AbortSignal had already aborted', limits.signal.reason);
    let reason: OnnxError | undefined;
    const stop = (why: OnnxError) => {
      reason ??= why;
      child.kill();
    };
    const timer =
      limits.timeoutMs !== undefined ? setTimeout(() => stop(stopped(spec.what, `it ran past timeoutMs (${limits.timeoutMs} ms)`)), limits.timeoutMs) : undefined;
    const onAbort = () => stop(stopped(spec.what, 'its AbortSignal aborted', limits.signal?.reason));
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // a run stopped before ended the last process: this run starts a new one (within its limits)
      if (!child.alive) {
        child = await Child.start(spec);
        if (reason) child.kill();
        await createIn(child, spec);
      }
      const r = await child.request({ kind: 'run', feeds });
      if (r.kind === 'ran') return r.outputs;
      // onnxruntime's own error from the run in the child, read like an in-process one
      throw new Error(r.kind === 'error' ? r.message : `unexpected reply ${r.kind}`);
    } catch (e) {
      throw reason ?? e;
    } finally {
      if (timer) clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
    }
  };

  return {
    provider: created.provider,
    inputNames: created.inputNames,
    outputNames: created.outputNames,
    run(feeds, limits) {
      const result = queue.then(() => runOnce(feeds, limits));
      queue = result.catch(() => undefined);
      return result;
    },
    async release() {
      released = true;
      child.kill('the session was released during the run');
    },
  };
}

function stopped(what: string, why: string, cause?: unknown): OnnxError {
  return new OnnxError(`${what}: the run was stopped because ${why}; its onnxruntime process was ended, and the next run starts a new one`, { cause });
}
