/**
 * Files of this package that `deq check` needs beside the library: the child-process entry, the
 * browser page and bundle, the harness server. Found from this module's own location, so that the
 * same code works from the sources (run by tsx) and from the built dist/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
/** Running from the TypeScript sources (tsx, vitest) rather than the built dist/. */
export const fromSources = here.endsWith('.ts');

/** The package's root: the nearest folder above this module whose package.json names deq-onnx. */
export const packageRoot: string = (() => {
  for (let d = dirname(here); ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'deq-onnx') return d;
      } catch {
        // not ours: keep looking
      }
    }
    if (dirname(d) === d) return join(dirname(here), '..', '..');
  }
})();

export const atRoot = (...parts: string[]) => join(packageRoot, ...parts);
