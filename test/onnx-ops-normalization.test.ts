/**
 * The import's normalization ops, one-node model by one-node model (cases in test/helpers/onnx-op-cases.ts):
 * values against onnxruntime in float32 and float64 on onnxruntime-node and -web, and float64
 * derivatives with respect to every differentiable input, as graph inputs and as initializers.
 */
import { describe, it } from 'vitest';
import { CASES } from './helpers/onnx-op-cases.js';
import { caseName, checkDerivatives, checkValues, differentiated } from './helpers/onnx-op-check.js';

describe('ONNX normalization ops', () => {
  for (const c of CASES['normalization']!) {
    it(`${caseName(c)}: values in float32 and float64 on node and web, against onnxruntime`, () => checkValues(c));
    if (c.grad !== false && differentiated(c).length) {
      it(`${caseName(c)}: float64 derivatives w.r.t. ${differentiated(c).join(', ')}, as inputs and as initializers`, () => checkDerivatives(c));
    }
  }
});
