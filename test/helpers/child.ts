/**
 * Scripts run in child processes with limits. A script is bundled with esbuild into plain
 * JavaScript first (under node_modules/.cache, so onnxruntime-node resolves from there): a loader
 * such as tsx reserves WebAssembly memory, which a cap on virtual memory (`ulimit -v`) forbids.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cacheDir = join(root, 'node_modules', '.cache', 'deq-onnx-tests');

/** Bundle `entry` (a path relative to the repository) into one .mjs file; returns its path. */
export async function bundle(entry: string): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const outfile = join(cacheDir, `${entry.replace(/[^A-Za-z0-9]/g, '_')}.${process.pid}.mjs`);
  await esbuild.build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['onnxruntime-node', 'onnxruntime-web'],
    // onnx-proto is CommonJS: give the bundle a `require`
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ChildOptions {
  cwd?: string;
  /** Cap on virtual memory, MiB (ulimit -v). */
  memoryMB?: number;
  /** Cap on the V8 heap, MiB. */
  heapMB?: number;
  /** Killed (SIGKILL) after this long. */
  timeoutMs: number;
  /** Killed (SIGKILL) when no line of stdout came for this long. */
  idleMs?: number;
  env?: Record<string, string>;
  /** Called with each complete line of stdout as it arrives. */
  onLine?: (line: string) => void;
}

/** Run `node script ...args` under the limits; resolves when it exits (or is killed). */
export function runNode(script: string, args: string[], o: ChildOptions): Promise<ChildResult> {
  const node = [process.execPath, ...(o.heapMB ? [`--max-old-space-size=${o.heapMB}`] : []), script, ...args];
  const argv = o.memoryMB ? ['/bin/sh', '-c', 'ulimit -v "$1" && shift && exec "$@"', 'sh', String(o.memoryMB * 1024), ...node] : node;
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let timedOut = false;
    let idle: NodeJS.Timeout | undefined;
    const watch = () => {
      if (!o.idleMs) return;
      clearTimeout(idle);
      idle = setTimeout(() => {
        timedOut = true;
        p.kill('SIGKILL');
      }, o.idleMs);
    };
    watch();
    p.stdout.on('data', (d: Buffer) => {
      watch();
      stdout += d.toString();
      if (!o.onLine) return;
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) o.onLine(l);
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, o.timeoutMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(idle);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}
