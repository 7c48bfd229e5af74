/**
 * onnxruntime's error messages as plain sentences: the failing node's name and op when the message
 * has them, without source paths and C++ signatures. The original error stays as the `cause`.
 */

export interface OrtFailure {
  /** The node that failed, when onnxruntime names it. */
  node?: { name: string; op: string };
  /** What went wrong, without onnxruntime's source locations. */
  reason: string;
}

/** Strip `/onnxruntime_src/…/file.cc:123 [type] ns::Class::fn(args) ` prefixes and `cond was false.` preambles. */
function plain(text: string): string {
  let s = text;
  const location = /\S*onnxruntime_src\/\S*:\d+\s*/;
  for (let m = location.exec(s); m; m = location.exec(s)) {
    let rest = s.slice(m.index + m[0].length);
    // the C++ function that raised it, with an optional return type, up to its balanced closing parenthesis
    const sig = /^(?:[\w:<>*&]+\s+)?[\w:~<>]+::[\w~<>]+\(/.exec(rest);
    if (sig) {
      let depth = 0;
      let end = sig[0].length - 1;
      for (; end < rest.length; end++) {
        if (rest[end] === '(') depth++;
        else if (rest[end] === ')' && --depth === 0) break;
      }
      rest = rest.slice(end + 1).replace(/^\s*const\b/, '');
    }
    s = `${s.slice(0, m.index)}${rest.trimStart()}`;
  }
  const afterAssert = /^[\s\S]{0,200}? was false\.\s*(\S[\s\S]*)$/.exec(s);
  if (afterAssert) s = afterAssert[1]!;
  s = s.replace(/\s+/g, ' ').trim();
  return s.length > 600 ? `${s.slice(0, 600)}…` : s;
}

/** Read an onnxruntime error message: which node failed and why. */
export function readOrtError(message: string): OrtFailure {
  const run = /running (\S+) node\. Name:'([^']*)' Status Message:\s*([\s\S]*)$/.exec(message);
  if (run) return { node: { op: run[1]!, name: run[2]! }, reason: plain(run[3]!) };
  const inNode = /In Node, \("([^"]*)", (\w+),[\s\S]*?Error ([\s\S]*)$/.exec(message);
  if (inNode) return { node: { name: inNode[1]!, op: inNode[2]! }, reason: plain(inNode[3]!) };
  const reason = plain(message.replace(/^Exception during initialization:\s*/, ''));
  const named = /in node \(([^)]*)\)/.exec(message);
  const op = /Optype \((\w+)\)/.exec(message);
  return named ? { node: { name: named[1]!, op: op?.[1] ?? 'op' }, reason } : { reason };
}

/** "node 'n' (Op)" or "a node (Op)" for messages. */
export const nodePhrase = (n: { name: string; op: string }): string => (n.name ? `node '${n.name}' (${n.op})` : `a ${n.op} node`);
