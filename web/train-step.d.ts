/** Types for train-step.js, for TypeScript callers such as the browser test. */
import type { Jitted, RuntimeOptions } from '../src/api.js';

/** The library pieces the step is built from: the page passes the browser bundle, Node the package. */
export interface TrainStepLibrary {
  jit: typeof import('../src/api.js').jit;
  valueAndGrad: typeof import('../src/api.js').valueAndGrad;
  fixedPoint: typeof import('../src/api.js').fixedPoint;
  np: typeof import('../src/api.js').np;
  treeMap: typeof import('../src/api.js').treeMap;
}

/** One SGD step of an imported cell's weights on ½‖z*(x; θ) − target‖², jit-compiled as one graph. */
export declare function makeTrainStep(
  lib: TrainStepLibrary,
  model: { apply(params: Record<string, unknown>, ...inputs: unknown[]): unknown[] },
  solve: import('../src/api.js').FixedPointOptions,
  runtime: RuntimeOptions,
): Jitted<(params: Record<string, unknown>, xs: unknown[], target: unknown, lr: number) => unknown>;
