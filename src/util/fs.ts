/**
 * File helpers. The file system is loaded on first use, so modules that import this one also load
 * in browsers (where only the byte-level paths are used).
 */
const fsp = () => import('node:fs/promises');

/** The file's bytes, read by path. */
export async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fsp()).readFile(path));
}

/** The folder a path is in ('' when the path names no folder). */
const folderOf = (path: string): string => path.replace(/[\\/][^\\/]*$/, '');

/**
 * `dir` and those of its parents that `exists` does not find, outermost first: the folders to
 * create, one level at a time, because Node's recursive mkdir spins forever on paths such as
 * /proc/x, where mkdir answers ENOENT for a parent that exists.
 */
export function missingParents(dir: string, exists: (path: string) => boolean): string[] {
  const missing: string[] = [];
  for (let p = dir; !exists(p); ) {
    missing.unshift(p);
    const up = folderOf(p);
    if (!up || up === p) break;
    p = up;
  }
  return missing;
}

/** A temporary name beside `path` for an atomic write: `<file>.<pid>.<random>.tmp` (TEMP_NAME reads it back). */
export const tempNameOf = (path: string): string => `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
/** Matches a name made by tempNameOf: group 1 is the file's name, group 2 the writer's pid. */
export const TEMP_NAME = /^(.+)\.(\d+)\.[0-9a-z]+\.tmp$/;

/** Create `dir` and its missing parents, one level at a time. */
async function makeDirs(dir: string): Promise<void> {
  const [{ mkdir }, { existsSync }] = await Promise.all([fsp(), import('node:fs')]);
  for (const m of missingParents(dir, existsSync)) {
    try {
      await mkdir(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/**
 * Write a file so that readers see the old or the new content, never a partial one: the data goes
 * to a temporary file in the same folder, is flushed to disk, then renamed into place.
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const { open, rename, rm } = await fsp();
  const dir = folderOf(path);
  if (dir && dir !== path) await makeDirs(dir);
  const tmp = tempNameOf(path);
  try {
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
