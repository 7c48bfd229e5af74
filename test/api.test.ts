/**
 * The public API is a list someone chose: every name the entry points export is documented in the
 * README's "Public API" section, and every name listed there is exported (nothing leaks through
 * `export *`, nothing documented is missing). The browser entry exports the shared surface.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as browser from '../src/browser.js';
import * as extend from '../src/extend.js';
import * as node from '../src/index.js';

const root = resolve(__dirname, '..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Public API'), readme.indexOf('\n## ', readme.indexOf('## Public API') + 1) >>> 0 || undefined);
const [mainPart, extendPart] = section.split("'deq-onnx/extend'");

/** Names an entry file exports, values and types alike, read from its export statements. */
function exportedNames(file: string): string[] {
  const text = readFileSync(resolve(root, 'src', file), 'utf8');
  const names: string[] = [];
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1]!.split(',')) {
      const n = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/).pop()!.trim();
      if (n) names.push(n);
    }
  }
  for (const m of text.matchAll(/export\s+\*\s+as\s+(\w+)/g)) names.push(m[1]!);
  return names;
}

const documented = (part: string) => new Set([...part.matchAll(/`(\w+)/g)].map((m) => m[1]!));

describe('public API', () => {
  const listed = documented(mainPart!);
  const listedExtend = documented(extendPart!);

  it('every name the main entries export is in the README, and every listed name is exported', () => {
    const names = [...exportedNames('api.ts'), ...exportedNames('index.ts')];
    expect(names.filter((n) => !listed.has(n))).toEqual([]);
    const runtime = new Set([...Object.keys(node), ...Object.keys(node.train), ...names]);
    expect([...listed].filter((n) => /^[A-Za-z]/.test(n) && !runtime.has(n) && !KNOWN_PROSE.has(n))).toEqual([]);
  });

  it('every extension point is in the README', () => {
    const names = exportedNames('extend.ts');
    expect(names.filter((n) => !listedExtend.has(n))).toEqual([]);
    for (const n of names) if (typeof (extend as Record<string, unknown>)[n] === 'undefined' && /^[a-z]/.test(n)) throw new Error(`extend exports no value ${n}`);
  });

  it('the browser entry exports the shared surface: the Node entry less what needs a file system', () => {
    const extra = Object.keys(node).filter((k) => !(k in browser)).sort();
    expect(extra).toEqual(['exportOnnx']);
    expect(Object.keys(browser).filter((k) => !(k in node))).toEqual([]);
  });

  it("the browser's train is Node's less the file loaders, checkpoints and trainRun", () => {
    expect(Object.keys(browser.train).filter((k) => !(k in node.train))).toEqual([]);
    for (const k of Object.keys(browser.train)) expect((browser.train as Record<string, unknown>)[k], k).toBe((node.train as Record<string, unknown>)[k]);
    // the parts that read or write files stay in Node's
    for (const k of ['loadBundledDigits', 'loadData', 'parseIdx', 'loadCheckpoint', 'saveCheckpoint', 'prepareRunDir', 'trainRun']) {
      expect(k in node.train, k).toBe(true);
      expect(k in browser.train, k).toBe(false);
    }
    // what a page trains with
    for (const k of ['splitDigits', 'unpackDigits', 'trainEpochs', 'makeTrainer', 'residualTraces', 'batches', 'adam']) expect(typeof (browser.train as Record<string, unknown>)[k], k).toBe('function');
  });

  it('np holds functions only, no primitive objects', () => {
    const leaked = Object.entries(node.np).filter(([, v]) => typeof v !== 'function').map(([k]) => k);
    expect(leaked).toEqual([]);
  });
});

/** Words in backticks in the section that are not export names: code words, a folder, Jitted's methods. */
const KNOWN_PROSE = new Set(['import', 'dist', 'compile', 'lastTaps', 'release']);
