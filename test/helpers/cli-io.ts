/** A CliIo that keeps what a command prints, line by line (`splitLines`: an out call's text split at newlines). */
import type { CliIo } from '../../src/cli/io.js';

export function capture({ splitLines = false } = {}): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(...(splitLines ? l.split('\n') : [l])), err: (l) => stderr.push(l), status: () => {}, isTTY: false };
}
