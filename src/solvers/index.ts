export { fixedPoint, type FixedPointOptions, type FixedPointResult, type BackwardMode } from './fixedPoint.js';
export { forwardIteration } from './forward.js';
export { anderson, type AndersonOptions } from './anderson.js';
export { broyden, type BroydenOptions } from './broyden.js';
export { newton, newtonKrylov, gmres } from './newton.js';
export { resolveSolver, solverNames, type SolverName } from './registry.js';
export { solveCompiled, solveUnrolled, driverInit, driverStep, driverContinue, driverStats } from './driver.js';
export type { Solver, SolveOptions, SolveStats, BatchMap } from './types.js';
