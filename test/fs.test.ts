/**
 * writeAtomic: a reader of the target path sees the old content or the new, never a partial file.
 * Every file-system call writeAtomic makes is recorded (node:fs/promises, wrapped), and after each
 * one a reader reads the target: it must find the old or the new content, whole. The target itself
 * is only ever the destination of a rename from a temporary file in the same folder, flushed first.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { writeAtomic } from '../src/util/fs.js';

interface Call { op: string; path: string; to?: string; seen: string | null }
const calls: Call[] = [];
let watched = '';
const seenNow = (): string | null => {
  try {
    return readFileSync(watched, 'utf8');
  } catch {
    return null;
  }
};

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const log = (op: string, path: unknown, to?: unknown) => calls.push({ op, path: String(path), to: to === undefined ? undefined : String(to), seen: seenNow() });
  const wrapHandle = (h: import('node:fs/promises').FileHandle, path: unknown) => new Proxy(h, {
    get(target, key) {
      const v = Reflect.get(target, key);
      if (typeof v !== 'function') return v;
      return async (...a: unknown[]) => {
        const r = await v.apply(target, a);
        log(`handle.${String(key)}`, path);
        return r;
      };
    },
  });
  const wrapped: Record<string, unknown> = { ...real };
  for (const name of ['writeFile', 'appendFile', 'truncate', 'copyFile', 'rm', 'unlink', 'mkdir', 'rename'] as const) {
    const f = real[name] as (...a: unknown[]) => Promise<unknown>;
    wrapped[name] = async (...a: unknown[]) => {
      const r = await f(...a);
      log(name, a[0], name === 'rename' || name === 'copyFile' ? a[1] : undefined);
      return r;
    };
  }
  wrapped.open = async (path: unknown, ...rest: unknown[]) => {
    const h = await (real.open as (...a: unknown[]) => Promise<import('node:fs/promises').FileHandle>)(path, ...rest);
    log(`open(${String(rest[0] ?? 'r')})`, path);
    return wrapHandle(h, path);
  };
  return { ...wrapped, default: wrapped };
});

describe('writeAtomic', () => {
  it('replaces a file so that a reader sees the old or the new content at every step, never a partial one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    watched = join(dir, 'metrics.json');
    const old = 'old content\n';
    const fresh = `${JSON.stringify({ history: Array.from({ length: 2000 }, (_, i) => ({ epoch: i, error: i / 7 })) })}\n`;
    writeFileSync(watched, old);
    calls.length = 0;
    await writeAtomic(watched, fresh);

    expect(readFileSync(watched, 'utf8')).toBe(fresh);
    expect(calls.length).toBeGreaterThan(3);
    for (const c of calls) expect([old, fresh], `after ${c.op} ${c.path}`).toContain(c.seen);
    // the target is never opened, written or truncated: it only receives a rename
    const onTarget = calls.filter((c) => c.path === watched);
    expect(onTarget).toEqual([]);
    const renames = calls.filter((c) => c.op === 'rename');
    expect(renames).toHaveLength(1);
    const tmp = renames[0]!.path;
    expect(renames[0]!.to).toBe(watched);
    expect(dirname(tmp)).toBe(dir); // the same folder, so the rename cannot cross file systems
    // the temporary file was written and flushed to disk before it was renamed into place
    const ops = calls.filter((c) => c.path === tmp).map((c) => c.op);
    expect(ops.indexOf('handle.sync')).toBeGreaterThan(ops.indexOf('handle.writeFile'));
    expect(ops.indexOf('handle.close')).toBeGreaterThan(ops.indexOf('handle.sync'));
    expect(ops.at(-1)).toBe('rename');
    expect(readdirSync(dir)).toEqual(['metrics.json']);
  });

  it('creates missing folders and a new file the same way; a reader sees no file, then the whole file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    watched = join(dir, 'sub', 'checkpoint.deq');
    const bytes = Uint8Array.from({ length: 1 << 16 }, (_, i) => (i * 31) & 0xff);
    const whole = Buffer.from(bytes).toString('utf8');
    calls.length = 0;
    await writeAtomic(watched, bytes);
    for (const c of calls) expect([null, whole], `after ${c.op} ${c.path}`).toContain(c.seen);
    expect(calls.filter((c) => c.path === watched)).toEqual([]);
    expect(new Uint8Array(readFileSync(watched))).toEqual(bytes);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['checkpoint.deq']);
  });
});
