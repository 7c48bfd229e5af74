/**
 * The compiled training and evaluation steps. A training step is ONE jitted valueAndGrad graph
 * (forward solve + implicit backward solve + loss); the optimizer update happens on the host and is
 * skipped when anything came back non-finite or the forward solve diverged, so params never see NaN.
 *
 * With Jacobian regularisation the loss gains λ · jacobianPenalty at the DEQ's fixed point, its
 * probes an input of the graph. Steps without the term (a fraction 1 − p of them with
 * `--jac-reg-freq p`) run a second graph that leaves it out: the term's VJP and its second-order
 * backward are real work, and skipping them is the point of applying it on only some steps; a 0/1
 * multiplier in one graph would compute them on every step anyway.
 */
import type { Tensor } from '../core/tensor.js';
import { jit, type Jitted } from '../transforms/jit.js';
import { valueAndGrad } from '../transforms/grad.js';
import type { RuntimeOptions } from '../backend/runtime.js';
import type { Value } from '../core/primitive.js';
import type { Model, ModelOutput } from '../nn/models.js';
import { allFinite } from '../core/tensor.js';
import { crossEntropyLoss, errorCount } from './losses.js';
import { clipByGlobalNorm, type Optimizer, treeAllFinite } from './optim.js';
import { type ConcreteStats, jacobianPenalty, readStats, type SolveReport, type SolveStats } from '../solvers/index.js';
import { avalOf, traceGraph } from '../core/trace.js';
import { treeFlatten, treeUnflatten } from '../core/pytree.js';
import { InputError } from '../core/errors.js';
import * as np from '../np.js';

export interface StepReport {
  /** The cross-entropy (without the Jacobian term). */
  loss: number;
  /** The Jacobian penalty's estimate, on steps that applied it; null on the others. */
  jacobianPenalty: number | null;
  errors: number;
  forward: SolveReport | null;
  backward: SolveReport | null;
  /** Why the update was skipped, or null when it was applied. */
  skipped: string | null;
  /** Global gradient norm before clipping (NaN when the step was skipped early). */
  gradNorm: number;
}

interface StepAux { state: unknown; errors: Value; stats: SolveStats | null; loss: Value; penalty: Value | null }

/** A solve's statistics as a jitted function returns them (tensors), or null without a DEQ layer. */
const readReport = (stats: ConcreteStats | null | undefined): SolveReport | null => (stats ? readStats(stats) : null);

export interface Trainer {
  /**
   * One step: returns the new params, model state and optimizer state (the old ones when skipped).
   * With `probes` (shape [samples, ...equilibriumShape]) the loss gains the Jacobian term.
   */
  step(params: unknown, state: unknown, optState: unknown, x: Tensor, y: Tensor, lr: number, probes?: Tensor): Promise<{ params: unknown; state: unknown; optState: unknown; report: StepReport }>;
  evaluate(params: unknown, state: unknown, x: Tensor, y: Tensor): Promise<{ loss: number; errors: number; forward: SolveReport | null }>;
  /** The shape of the DEQ layer's fixed point for input x: Jacobian probes are [samples, ...this]. */
  equilibriumShape(params: unknown, state: unknown, x: Tensor): number[];
  readonly trainGraph: Jitted<any>;
  /** The training step with the Jacobian term: what `step` runs when given probes. */
  readonly jacobianGraph: Jitted<any>;
  /** Release the onnxruntime sessions of the compiled steps (a later call compiles them again). */
  release(): Promise<void>;
}

export interface TrainerOptions {
  /** Clip the global gradient norm to this value (default: no clipping). */
  clipNorm?: number;
  /** λ of the Jacobian term λ · ‖∂f/∂z‖²_F / N added to the loss on steps given probes (default 0: steps take no probes). */
  jacobianWeight?: number;
}

export function makeTrainer(model: Model, optimizer: Optimizer<any>, runtime: RuntimeOptions = {}, opts: TrainerOptions = {}): Trainer {
  const lambda = opts.jacobianWeight ?? 0;
  const lossFn = (params: unknown, state: unknown, x: Value, y: Value, probes?: Value): [Value, StepAux] => {
    const out = model.apply(params, state, x, { train: true });
    const loss = crossEntropyLoss(out.logits, y);
    const aux = { state: out.state, errors: errorCount(out.logits, y), stats: out.stats, loss };
    if (probes === undefined) return [loss, { ...aux, penalty: null }];
    const eq = equilibriumOf(model.name, out.equilibrium);
    // z* held constant, as the reference DEQ code does: the term shapes f around z*, not the solve
    const penalty = jacobianPenalty(eq.cell, np.stopGradient(eq.zStar), eq.args, { noise: probes });
    return [np.add(loss, np.mul(penalty, lambda)), { ...aux, penalty }];
  };
  const trainGraph = jit(valueAndGrad(lossFn, { hasAux: true }), { ...runtime, name: `${model.name}_train_step` });
  const jacobianGraph = jit(valueAndGrad(lossFn, { hasAux: true }), { ...runtime, name: `${model.name}_train_step_jacobian` });
  const evalGraph = jit((params: unknown, state: unknown, x: Value, y: Value) => {
    const out = model.apply(params, state, x, { train: false });
    return { loss: crossEntropyLoss(out.logits, y), errors: errorCount(out.logits, y), stats: out.stats };
  }, { ...runtime, name: `${model.name}_eval` });

  return {
    trainGraph,
    jacobianGraph,
    release: async () => {
      await Promise.all([trainGraph.release(), jacobianGraph.release(), evalGraph.release()]);
    },
    equilibriumShape: (params, state, x) => equilibriumShape(model, params, state, x),
    async step(params, state, optState, x, y, lr, probes) {
      if (probes !== undefined && lambda === 0) throw new InputError('trainer.step: Jacobian probes were given but the trainer has no jacobianWeight; set it in makeTrainer');
      const graph = probes === undefined ? trainGraph : jacobianGraph;
      const [[loss, aux], grads] = (await (probes === undefined ? graph(params, state, x, y) : graph(params, state, x, y, probes))) as
        [[Tensor, { state: unknown; errors: Tensor; stats: ConcreteStats | null; loss: Tensor; penalty: Tensor | null }], unknown];
      const forward = readReport(aux.stats);
      const backward = readReport(graph.lastTaps['fixedPoint.backward']?.[0]);
      const report: StepReport = {
        loss: aux.loss.item(), jacobianPenalty: aux.penalty ? aux.penalty.item() : null, errors: aux.errors.item(), forward, backward, skipped: null, gradNorm: NaN,
      };
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

function equilibriumOf(name: string, eq: ModelOutput['equilibrium']): NonNullable<ModelOutput['equilibrium']> {
  if (!eq) throw new InputError(`model ${name} has no DEQ layer, so there is no Jacobian to regularise; train with a DEQ or without the Jacobian term`);
  return eq;
}

/** The fixed point's shape for input x, by tracing the model once (nothing runs). */
function equilibriumShape(model: Model, params: unknown, state: unknown, x: Tensor): number[] {
  const [leaves, def] = treeFlatten<Value>([params, state]);
  let shape: number[] = [];
  traceGraph((...ins) => {
    const [p, s] = treeUnflatten<[unknown, unknown]>(def, ins.slice(0, -1));
    const zStar = equilibriumOf(model.name, model.apply(p, s, ins[ins.length - 1]!, { train: true }).equilibrium).zStar;
    shape = [...np.shape(zStar)];
    return [zStar];
  }, [...leaves.map(avalOf), avalOf(x)]);
  return shape;
}
