/** Text output of a training run: the tutorial's per-epoch line, a progress bar, the final table. */
import type { EpochMetrics } from '../train/loop.js';

const f4 = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : String(v));
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : String(v));

/**
 * "Train Error: …, Loss: …, FP Iters: … | Val Error: …": the tutorial's line, plus backward iterations
 * and time, with the validation set where the tutorial has the test set (which is looked at once, at the end).
 */
export function epochLine(m: EpochMetrics, epochs: number): string {
  const skipped = m.skipped ? ` | skipped ${m.skipped} step${m.skipped > 1 ? 's' : ''}` : '';
  return (
    `Epoch ${String(m.epoch).padStart(String(epochs).length)}/${epochs} | ` +
    `Train Error: ${f4(m.trainError)}, Loss: ${f4(m.trainLoss)}, FP Iters: ${f2(m.forwardIters)}, BP Iters: ${f2(m.backwardIters)}` +
    `${m.jacPenalty !== undefined ? `, Jac: ${f4(m.jacPenalty)}${m.jacSteps !== undefined && m.jacSteps !== m.steps ? ` (${m.jacSteps}/${m.steps} steps)` : ''}` : ''} | ` +
    (Number.isNaN(m.valError) ? '' : `Val Error: ${f4(m.valError)}, Loss: ${f4(m.valLoss)}, FP Iters: ${f2(m.valForwardIters)} | `) +
    `${m.seconds.toFixed(1)} s${skipped}`
  );
}

export function progressBar(epoch: number, epochs: number, done: number, total: number, loss: number, width = 28): string {
  const filled = Math.round((done / total) * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  return `epoch ${epoch}/${epochs} ${bar} ${String(done).padStart(String(total).length)}/${total}  loss ${Number.isFinite(loss) ? loss.toFixed(4) : '-'}`;
}

/** A plain-text table of every epoch's metrics. */
export function metricsTable(history: readonly EpochMetrics[]): string {
  const jac = history.some((m) => m.jacPenalty !== undefined);
  const head = ['epoch', 'lr', 'train err', 'train loss', 'fwd it', 'bwd it', ...(jac ? ['jac'] : []), 'val err', 'val loss', 'val fwd it', 'skipped', 'seconds'];
  const rows = history.map((m) => [
    String(m.epoch), m.lr.toExponential(2), f4(m.trainError), f4(m.trainLoss), f2(m.forwardIters), f2(m.backwardIters),
    ...(jac ? [f4(m.jacPenalty ?? NaN)] : []), f4(m.valError), f4(m.valLoss), f2(m.valForwardIters), String(m.skipped), m.seconds.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(head), rule, ...rows.map(line)].join('\n');
}
