/**
 * The compiled training and evaluation steps. A training step is ONE jitted valueAndGrad graph
 * (forward solve + implicit backward solve + loss); the optimizer update happens on the host and is
 * skipped when anything came back non-finite or the forward solve diverged, so params never see NaN.
 */
import type { Tensor } from '../core/tensor.js';
import { jit, type Jitted } from '../transforms/jit.js';
import { valueAndGrad } from '../transforms/grad.js';
import type { RuntimeOptions } from '../backend/runtime.js';
import type { Value } from '../core/primitive.js';
import type { Model } from '../nn/models.js';
import { allFinite } from '../core/tensor.js';
import { crossEntropyLoss, errorCount } from './losses.js';
import { clipByGlobalNorm, type Optimizer, treeAllFinite } from './optim.js';
import { type ConcreteStats, readStats, type SolveReport, type SolveStats } from '../solvers/index.js';

export interface StepReport {
  loss: number;
  errors: number;
  forward: SolveReport | null;
  backward: SolveReport | null;
  /** Why the update was skipped, or null when it was applied. */
  skipped: string | null;
  /** Global gradient norm before clipping (NaN when the step was skipped early). */
  gradNorm: number;
}

interface StepAux { state: unknown; errors: Value; stats: SolveStats | null }

/** A solve's statistics as a jitted function returns them (tensors), or null without a DEQ layer. */
const readReport = (stats: ConcreteStats | null | undefined): SolveReport | null => (stats ? readStats(stats) : null);

export interface Trainer {
  /** One step: returns the new params, model state and optimizer state (the old ones when skipped). */
  step(params: unknown, state: unknown, optState: unknown, x: Tensor, y: Tensor, lr: number): Promise<{ params: unknown; state: unknown; optState: unknown; report: StepReport }>;
  evaluate(params: unknown, state: unknown, x: Tensor, y: Tensor): Promise<{ loss: number; errors: number; forward: SolveReport | null }>;
  readonly trainGraph: Jitted<any>;
  /** Release both graphs' onnxruntime sessions (a page that trains again frees the old ones). */
  release(): Promise<void>;
}

export interface TrainerOptions {
  /** Clip the global gradient norm to this value (default: no clipping). */
  clipNorm?: number;
}

export function makeTrainer(model: Model, optimizer: Optimizer<any>, runtime: RuntimeOptions = {}, opts: TrainerOptions = {}): Trainer {
  const lossFn = (params: unknown, state: unknown, x: Value, y: Value): [Value, StepAux] => {
    const out = model.apply(params, state, x, { train: true });
    return [crossEntropyLoss(out.logits, y), { state: out.state, errors: errorCount(out.logits, y), stats: out.stats }];
  };
  const trainGraph = jit(valueAndGrad(lossFn, { hasAux: true }), { ...runtime, name: `${model.name}_train_step` });
  const evalGraph = jit((params: unknown, state: unknown, x: Value, y: Value) => {
    const out = model.apply(params, state, x, { train: false });
    return { loss: crossEntropyLoss(out.logits, y), errors: errorCount(out.logits, y), stats: out.stats };
    // a profile (runtime.profile) is of the training step; evaluation runs unprofiled
  }, { ...runtime, profile: false, name: `${model.name}_eval` });

  return {
    trainGraph,
    async release() {
      await Promise.all([trainGraph.release(), evalGraph.release()]);
    },
    async step(params, state, optState, x, y, lr) {
      const [[loss, aux], grads] = (await trainGraph(params, state, x, y)) as [[Tensor, { state: unknown; errors: Tensor; stats: ConcreteStats | null }], unknown];
      const forward = readReport(aux.stats);
      const backward = readReport(trainGraph.lastTaps['fixedPoint.backward']?.[0]);
      const report: StepReport = { loss: loss.item(), errors: aux.errors.item(), forward, backward, skipped: null, gradNorm: NaN };
      if (!allFinite(loss)) report.skipped = 'non-finite loss';
      else if (forward && (forward.diverged || !Number.isFinite(forward.residual))) report.skipped = 'forward solve diverged';
      else if (!treeAllFinite(grads)) report.skipped = 'non-finite gradient';
      else if (!treeAllFinite(aux.state)) report.skipped = 'non-finite model state';
      if (report.skipped) return { params, state, optState, report };
      const clipped = clipByGlobalNorm(grads, opts.clipNorm ?? Infinity);
      report.gradNorm = clipped.norm;
      const next = optimizer.update(params, clipped.grads, optState, lr);
      // the update itself can overflow (a huge learning rate): the old params stay then too
      if (!treeAllFinite(next.params)) {
        report.skipped = 'non-finite update';
        return { params, state, optState, report };
      }
      // so can the optimizer's own state (Adam's second moment of a 1e21 gradient in float32): an
      // Inf there would freeze its weights for good, so the old state stays as well
      if (!treeAllFinite(next.state)) {
        report.skipped = 'non-finite optimizer state';
        return { params, state, optState, report };
      }
      return { params: next.params, state: aux.state, optState: next.state, report };
    },
    async evaluate(params, state, x, y) {
      const out = (await evalGraph(params, state, x, y)) as { loss: Tensor; errors: Tensor; stats: ConcreteStats | null };
      return { loss: out.loss.item(), errors: out.errors.item(), forward: readReport(out.stats) };
    },
  };
}
