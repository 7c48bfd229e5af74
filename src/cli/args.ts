/**
 * A small flag parser driven by a spec, so that help text and validation come from one place and a
 * bad flag gets one line naming the fix.
 */
import * as E from 'fp-ts/lib/Either.js';
import { InputError } from '../core/errors.js';

export interface FlagSpec {
  name: string;
  kind: 'string' | 'int' | 'number' | 'bool';
  help: string;
  /** Allowed values (for strings). */
  choices?: readonly string[];
  /** Shown in help; the value used when the flag is absent is decided by the command. */
  default?: string;
  /** Placeholder in help, e.g. N, X, DIR. */
  value?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: readonly FlagSpec[];
  examples?: readonly string[];
}

export type Parsed = Record<string, string | number | boolean | undefined>;

const HELP_FLAG: FlagSpec = { name: 'help', kind: 'bool', help: 'show this help' };

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest known name, when it is close enough to be a likely typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dd = k.startsWith(name) || name.startsWith(k) ? 1 : distance(name, k);
    if (dd < bestD) { bestD = dd; best = k; }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

export function parseFlags(spec: CommandSpec, argv: readonly string[]): E.Either<InputError, Parsed> {
  const flags = [...spec.flags, HELP_FLAG];
  const byName = new Map(flags.map((f) => [f.name, f]));
  const out: Parsed = {};
  const fail = (msg: string) => E.left(new InputError(`deq ${spec.name}: ${msg}`));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') { out.help = true; continue; }
    if (!arg.startsWith('--')) {
      return fail(`unexpected argument '${arg}'; flags take the form --name value (see deq ${spec.name} --help)`);
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const f = byName.get(name);
    if (!f) {
      const s = suggest(name, flags.map((x) => x.name));
      return fail(`unknown flag --${name}${s ? `; did you mean --${s}?` : ''} (see deq ${spec.name} --help)`);
    }
    if (f.kind === 'bool') {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') return fail(`--${name} is a switch: write --${name} or --${name}=false`);
        out[name] = v === 'true';
      } else out[name] = true;
      continue;
    }
    let raw: string | undefined;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      raw = argv[i + 1];
      if (raw === undefined || (raw.startsWith('--') && raw.length > 2)) {
        return fail(`--${name} needs a value, e.g. --${name} ${example(f)}`);
      }
      i++;
    }
    const v = convert(f, raw);
    if (E.isLeft(v)) return fail(v.left);
    out[name] = v.right;
  }
  return E.right(out);
}

const example = (f: FlagSpec): string => f.choices?.[0] ?? f.default ?? (f.kind === 'int' ? '10' : f.kind === 'number' ? '0.001' : 'value');

function convert(f: FlagSpec, raw: string): E.Either<string, string | number> {
  if (f.kind === 'string') {
    if (f.choices && !f.choices.includes(raw)) {
      const s = suggest(raw, f.choices);
      return E.left(`--${f.name} must be one of ${f.choices.join(', ')}; got '${raw}'${s ? ` (did you mean ${s}?)` : ''}`);
    }
    return E.right(raw);
  }
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) return E.left(`--${f.name} takes a number, got '${raw}'; e.g. --${f.name} ${example(f)}`);
  if (f.kind === 'int' && !Number.isInteger(n)) return E.left(`--${f.name} takes a whole number, got '${raw}'; e.g. --${f.name} ${example(f)}`);
  return E.right(n);
}

/** Help text generated from the spec. */
export function helpText(spec: CommandSpec): string {
  const rows = [...spec.flags, HELP_FLAG].map((f) => {
    const lhs = `--${f.name}${f.kind === 'bool' ? '' : ` ${f.choices ? f.choices.join('|') : f.value ?? (f.kind === 'string' ? 'S' : 'N')}`}`;
    const rhs = `${f.help}${f.default !== undefined ? ` (default: ${f.default})` : ''}`;
    return [lhs, rhs] as const;
  });
  const w = Math.min(Math.max(...rows.map(([l]) => l.length)) + 2, 40);
  const lines = rows.map(([l, r]) => (l.length + 2 > w ? `  ${l}\n  ${' '.repeat(w)}${r}` : `  ${l.padEnd(w)}${r}`));
  const ex = spec.examples?.length ? `\n\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}` : '';
  return `${spec.summary}\n\nUsage: ${spec.usage}\n\nOptions:\n${lines.join('\n')}${ex}\n`;
}
