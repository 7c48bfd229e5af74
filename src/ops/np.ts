/** The np namespace: thin wrappers over primitives plus composites. */
export * from './elementwise.js';
export * from './shape.js';
export * from './reduce.js';
export { matmul } from './linalg.js';
export { conv2d, avgPool, convParams, type Conv2dOptions } from './conv.js';
export { convTranspose2d, type ConvTranspose2dOptions } from './conv.js';
export * from './composites.js';
export { zerosLike } from '../transforms/jvp.js';
import type { Value } from '../core/primitive.js';
import { fill } from './shape.js';
import { dtypeOf, shapeOf } from './util.js';
export const onesLike = (x: Value): Value => fill(shapeOf(x), 1, dtypeOf(x));
export const fullLike = (x: Value, v: number): Value => fill(shapeOf(x), v, dtypeOf(x));
export { shapeOf as shape, dtypeOf as dtype } from './util.js';
export { whileLoop, foriLoop } from './control.js';
export { solve } from './solve.js';
