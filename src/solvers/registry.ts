import { InputError } from '../core/errors.js';
import { anderson } from './anderson.js';
import { broyden } from './broyden.js';
import { forwardIteration } from './forward.js';
import { gmres, newton, newtonKrylov } from './newton.js';
import type { Solver, SolverName } from './types.js';

export const solverNames: SolverName[] = ['forward', 'neumann', 'anderson', 'broyden', 'newton', 'newtonKrylov', 'gmres'];

export function resolveSolver(s: SolverName | Solver | undefined, fallback: SolverName): Solver {
  if (s && typeof s === 'object') return s;
  switch (s ?? fallback) {
    case 'forward':
    case 'neumann': return forwardIteration();
    case 'anderson': return anderson();
    case 'broyden': return broyden();
    case 'newton': return newton();
    case 'newtonKrylov': return newtonKrylov();
    case 'gmres': return gmres();
    default: throw new InputError(`unknown solver '${String(s)}': use one of ${solverNames.join(', ')}`);
  }
}
