/** The benchmark's rows: each tutorial model with the recipe and solver settings a user runs it with. */
export type Row = 'fwd' | 'newton' | 'anderson' | 'conv';

export interface RowSpec {
  model: 'mlp' | 'mlp-newton' | 'conv';
  /** Overrides of the model's solver defaults, as `deq train`'s flags set them. */
  deq: { solver?: 'forward'; backward?: 'unrolled'; maxIter?: number };
  batch: number;
  evalBatch: number;
  optimizer: 'sgd' | 'adam';
  schedule: 'step' | 'cosine';
  lr: number;
  clipNorm?: number;
}

export const ROWS: Record<Row, RowSpec> = {
  fwd: { model: 'mlp', deq: { solver: 'forward', backward: 'unrolled', maxIter: 200 }, batch: 100, evalBatch: 500, optimizer: 'sgd', schedule: 'step', lr: 0.1 },
  newton: { model: 'mlp-newton', deq: {}, batch: 100, evalBatch: 500, optimizer: 'sgd', schedule: 'step', lr: 0.1 },
  anderson: { model: 'mlp', deq: {}, batch: 100, evalBatch: 500, optimizer: 'adam', schedule: 'cosine', lr: 2e-3, clipNorm: 2 },
  conv: { model: 'conv', deq: {}, batch: 32, evalBatch: 32, optimizer: 'adam', schedule: 'cosine', lr: 2e-3, clipNorm: 2 },
};
