/**
 * Model-level checks of a decoded file, the ones the ONNX checker makes before any op is looked at:
 * IR and opset versions in the range onnxruntime knows, every tensor's data inside the file and of
 * the size it declares, and every graph in SSA form with its names defined before use.
 */
import { OnnxError } from '../core/errors.js';
import { checkGraphStructure } from './graph-check.js';
import { checkTensor } from './tensor-check.js';
import { allTensors, type ModelLike } from './walk.js';

/** IR 3 introduced opset imports, which every model here needs. */
export const MIN_IR_VERSION = 3;
/** The newest IR version onnxruntime 1.30 loads. */
export const MAX_IR_VERSION = 13;
/** The newest ai.onnx opset onnxruntime 1.30 implements. */
export const MAX_OPSET = 26;

export interface VersionedModel extends ModelLike {
  irVersion?: unknown;
  opsetImport?: readonly { domain?: string | null; version?: unknown }[] | null;
}

export function checkModel(m: VersionedModel, what: string): void {
  checkVersions(m, what);
  for (const site of allTensors(m)) checkTensor(site, what);
  checkGraphStructure(m, what);
}

function checkVersions(m: VersionedModel, what: string): void {
  const ir = Number(String(m.irVersion));
  if (!Number.isInteger(ir) || ir < MIN_IR_VERSION || ir > MAX_IR_VERSION) {
    throw new OnnxError(`${what}: IR version ${String(m.irVersion)} is outside the supported range ${MIN_IR_VERSION}..${MAX_IR_VERSION}; re-export the model with a current ONNX exporter`);
  }
  const seen = new Set<string>();
  for (const o of m.opsetImport ?? []) {
    const domain = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
    const v = Number(String(o.version));
    const name = domain || 'ai.onnx';
    if (seen.has(domain)) throw new OnnxError(`${what}: the opset of domain ${name} is imported twice`);
    seen.add(domain);
    if (!Number.isInteger(v) || v < 1) throw new OnnxError(`${what}: opset version ${String(o.version)} of domain ${name} is not a valid version (1 or more)`);
    if (!domain && v > MAX_OPSET) throw new OnnxError(`${what}: ai.onnx opset ${v} is newer than the newest this runtime supports (${MAX_OPSET}); re-export with opset ${MAX_OPSET} or older`);
  }
}
