/**
 * Flags from one spec per command: Node's util.parseArgs splits the command line, and the spec
 * gives each flag its kind, range and help, so that help text, parsing and validation agree and a
 * bad flag gets one line naming the fix before anything is loaded.
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { InputError } from '../core/errors.js';

interface FlagBase {
  name: string;
  help: string;
  /** Shown in help; the value used when the flag is absent is decided by the command. */
  default?: string;
  /** Placeholder in help, e.g. N, X, DIR. */
  value?: string;
}

export type FlagSpec =
  | (FlagBase & { kind: 'bool' })
  | (FlagBase & { kind: 'string'; /** Allowed values; any non-empty text without them. */ choices?: readonly string[] })
  | (FlagBase & {
    kind: 'int' | 'number';
    /** Inclusive bounds: every numeric flag has a documented range. */
    min: number;
    max: number;
    /** The lower bound itself is not allowed (a tolerance must be above 0). */
    minExclusive?: boolean;
  });

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: readonly FlagSpec[];
  /** One positional argument (e.g. a file), stored under its name; without it, positionals are refused. */
  positional?: { name: string; help: string; required?: boolean };
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

/** The range of a numeric flag in words, e.g. "1 to 10000" or "above 0, at most 1". */
export function rangeText(f: FlagSpec): string | undefined {
  if (f.kind !== 'int' && f.kind !== 'number') return undefined;
  return f.minExclusive ? `above ${f.min}, at most ${f.max}` : `${f.min} to ${f.max}`;
}

const example = (f: FlagSpec): string =>
  (f.kind === 'string' ? f.choices?.[0] : undefined) ?? f.default ?? (f.kind === 'int' ? String(Math.max(f.min, 1)) : f.kind === 'number' ? String(f.max) : 'value');

// Plain decimal notation only: no hex, no padding, no Infinity; exponents only for real numbers.
const INT = /^[+-]?\d+$/;
const REAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function convert(f: FlagSpec, raw: string): E.Either<string, string | number> {
  if (f.kind === 'bool') return E.left(`--${f.name} is a switch: write --${f.name} or --${f.name}=false`);
  if (f.kind === 'string') {
    if (raw === '') return E.left(`--${f.name} needs a non-empty value, e.g. --${f.name} ${example(f)}`);
    if (f.choices && !f.choices.includes(raw)) {
      const s = suggest(raw, f.choices);
      return E.left(`--${f.name} must be one of ${f.choices.join(', ')}; got '${raw}'${s ? ` (did you mean ${s}?)` : ''}`);
    }
    return E.right(raw);
  }
  if (f.kind === 'int' && !INT.test(raw)) return E.left(`--${f.name} takes a whole number, got '${raw}'; e.g. --${f.name} ${example(f)}`);
  if (!REAL.test(raw)) return E.left(`--${f.name} takes a number, got '${raw}'; e.g. --${f.name} ${example(f)}`);
  const n = Number(raw);
  const tooLow = f.minExclusive ? !(n > f.min) : !(n >= f.min);
  if (!Number.isFinite(n) || tooLow || n > f.max) return E.left(`--${f.name} must be ${f.kind === 'int' ? 'a whole number ' : ''}${f.minExclusive ? rangeText(f) : `from ${rangeText(f)}`}, got ${raw}`);
  return E.right(n);
}

export function parseFlags(spec: CommandSpec, argv: readonly string[]): E.Either<InputError, Parsed> {
  const flags = [...spec.flags, HELP_FLAG];
  const byName = new Map(flags.map((f) => [f.name, f]));
  const fail = (msg: string) => E.left(new InputError(`deq ${spec.name}: ${msg}`));
  const see = `(see deq ${spec.name} --help)`;
  // strict off: unknown flags, stray words and values that start with '-' (e.g. --clip-norm -1)
  // come back as tokens, so that each gets this command's own message instead of a generic one
  const { tokens } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(flags.map((f) => [f.name, { type: f.kind === 'bool' ? 'boolean' as const : 'string' as const, ...(f.name === 'help' ? { short: 'h' } : {}) }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const out: Parsed = {};
  const pos = spec.positional;
  for (const t of tokens) {
    if (t.kind === 'positional' && pos && out[pos.name] === undefined) {
      out[pos.name] = t.value;
      continue;
    }
    if (t.kind === 'positional') return fail(`unexpected argument '${t.value}'; flags take the form --name value ${see}`);
    if (t.kind === 'option-terminator') return fail(`unexpected argument '--'; flags take the form --name value ${see}`);
    const f = byName.get(t.name);
    if (!f || (!t.rawName.startsWith('--') && f !== HELP_FLAG)) {
      const s = t.rawName.startsWith('--') ? suggest(t.name, flags.map((x) => x.name)) : undefined;
      return fail(`unknown flag ${t.rawName}${s ? `; did you mean --${s}?` : ''} ${see}`);
    }
    if (f.kind === 'bool') {
      if (t.value === undefined) out[f.name] = true;
      else if (t.value === 'true' || t.value === 'false') out[f.name] = t.value === 'true';
      else return fail(`--${f.name} is a switch: write --${f.name} or --${f.name}=false`);
      continue;
    }
    // "--epochs --lr 1": the next flag is not a value
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--') && t.value.length > 2)) {
      return fail(`--${f.name} needs a value, e.g. --${f.name} ${example(f)}`);
    }
    const v = convert(f, t.value);
    if (E.isLeft(v)) return fail(v.left);
    out[f.name] = v.right;
  }
  if (pos?.required && out[pos.name] === undefined && !out.help) return fail(`needs ${pos.name}: ${spec.usage}`);
  return E.right(out);
}

/** Help text generated from the spec, each numeric flag with its range. */
export function helpText(spec: CommandSpec): string {
  const rows = [...spec.flags, HELP_FLAG].map((f) => {
    const placeholder = f.kind === 'string' && f.choices ? f.choices.join('|') : f.value ?? (f.kind === 'string' ? 'S' : 'N');
    const lhs = `--${f.name}${f.kind === 'bool' ? '' : ` ${placeholder}`}`;
    const range = rangeText(f);
    const rhs = `${f.help}${range ? ` [${range}]` : ''}${f.default !== undefined ? ` (default: ${f.default})` : ''}`;
    return [lhs, rhs] as const;
  });
  const w = Math.min(Math.max(...rows.map(([l]) => l.length)) + 2, 40);
  const lines = rows.map(([l, r]) => (l.length + 2 > w ? `  ${l}\n  ${' '.repeat(w)}${r}` : `  ${l.padEnd(w)}${r}`));
  const ex = spec.examples?.length ? `\n\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}` : '';
  const args = spec.positional ? `\n\nArguments:\n  ${spec.positional.name.padEnd(w)}${spec.positional.help}` : '';
  return `${spec.summary}\n\nUsage: ${spec.usage}${args}\n\nOptions:\n${lines.join('\n')}${ex}\n`;
}
