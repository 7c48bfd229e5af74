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
 * Write a file so that readers see the old or the new content, never a partial one: the data goes
 * to a temporary file in the same folder, is flushed to disk, then renamed into place.
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const { mkdir, open, rename, rm } = await fsp();
  const dir = path.replace(/[\\/][^\\/]*$/, '');
  if (dir && dir !== path) await mkdir(dir, { recursive: true });
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
