/**
 * File helpers. The file system is loaded on first use, so modules that import this one also load
 * in browsers (where only the byte-level paths are used).
 */
const fsp = () => import('node:fs/promises');

/** The file's bytes, read by path. */
export async function readBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fsp()).readFile(path));
}

/**
 * Create a folder and its missing parents one level at a time: Node's recursive mkdir spins forever
 * on paths such as /proc/x, where mkdir answers ENOENT for a parent that exists.
 */
async function makeDirs(dir: string): Promise<void> {
  const { mkdir, stat } = await fsp();
  const missing: string[] = [];
  for (let p = dir; ; ) {
    try {
      await stat(p);
      break;
    } catch {
      missing.unshift(p);
      const up = p.replace(/[\\/][^\\/]*$/, '');
      if (!up || up === p) break;
      p = up;
    }
  }
  for (const m of missing) {
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
  const dir = path.replace(/[\\/][^\\/]*$/, '');
  if (dir && dir !== path) await makeDirs(dir);
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
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
