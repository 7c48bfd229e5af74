/**
 * One onnxruntime run at a time: the WebGPU build of onnxruntime-web suspends a run while the GPU
 * works (asyncify), and a second run started then would share its suspended stack. The training
 * loop holds the lock except between steps; a prediction or a cell check waits for that gap.
 */
export class Lock {
  private tail: Promise<void> = Promise.resolve();

  /** Wait for the lock; call the returned function to give it back. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return ready;
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** The page's one lock. */
export const runs = new Lock();
