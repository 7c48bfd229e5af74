/**
 * Output folders, checked before any work is done: created one level at a time (missingParents),
 * test-written, and rid of the temporary files that a killed atomic write left behind.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { InputError } from '../core/errors.js';
import { missingParents, TEMP_NAME, tempNameOf } from './fs.js';

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

const kindOf = (path: string): 'dir' | 'other' | 'missing' => {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch {
    return 'missing';
  }
};

/** Create `dir` if needed and check that a file can be written in it. */
export function ensureWritableDir(dir: string): E.Either<InputError, string> {
  if (dir === '') return E.left(new InputError('the output folder is an empty path; name a folder'));
  const full = resolve(dir);
  const missing = missingParents(full, existsSync);
  // the nearest folder that exists (or the top, when none does)
  const p = missing.length ? dirname(missing[0]!) : full;
  if (kindOf(p) === 'other') {
    return E.left(new InputError(`${p === full ? dir : p} exists and is not a folder; choose a folder to write to`));
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      if (kindOf(m) !== 'dir') return E.left(new InputError(`cannot create the folder ${m} (${code(e)}); choose a folder you can write to`));
    }
  }
  const probe = tempNameOf(join(full, '.write-test'));
  try {
    writeFileSync(probe, '');
  } catch (e) {
    return E.left(new InputError(`cannot write to the folder ${dir} (${code(e)}); choose a folder you can write to`));
  } finally {
    rmSync(probe, { force: true });
  }
  return E.right(full);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Remove the temporary files of `names` (and of the write test) in `dir` whose writing process is
 * gone: what a killed atomic write leaves. A live writer's files are left alone. Returns the names removed.
 */
export function removeStaleTemps(dir: string, names: readonly string[]): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const ours = new Set([...names, '.write-test']);
  const removed: string[] = [];
  for (const f of entries) {
    const m = TEMP_NAME.exec(f);
    if (!m || !ours.has(m[1]!) || alive(Number(m[2]))) continue;
    rmSync(join(dir, f), { force: true });
    removed.push(f);
  }
  return removed;
}
