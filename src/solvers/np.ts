/** The np namespace for solver code (solvers are written with np ops only). */
export * as np from '../ops/np.js';
