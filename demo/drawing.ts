/**
 * The draw panel: a 280×280 canvas, the drawing as an MNIST digit (digitize.ts), and the current
 * model's prediction with its solve: iterations and the residual after each one.
 */
import * as deq from '../src/browser.js';
import type { Value } from '../src/browser.js';
import { $, drawChart, el, message, PALETTE } from './dom.js';
import { digitize } from './digitize.js';
import { executionProviders, type Provider } from './env.js';
import { runs } from './lock.js';

export interface Prediction { digit: number; probabilities: number[]; iterations: number; converged: boolean; trace: number[]; provider: string }

export interface ModelSource {
  /** The model to predict with (the one training, or a fresh one before any training). */
  current(): { model: deq.nn.Model; params: unknown; state: unknown; provider: Provider; key: string };
}

type Predict = deq.Jitted<(p: unknown, s: unknown, x: Value) => { logits: Value; stats: unknown }>;

export class Drawing {
  last: Prediction | null = null;
  private compiled: { key: string; fn: Predict } | null = null;
  private readonly ctx: CanvasRenderingContext2D;
  private pending = false;

  constructor(private readonly source: ModelSource, private readonly onPredict: (p: Prediction | null, error?: string) => void) {
    const canvas = $<HTMLCanvasElement>('canvas');
    this.ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    this.ctx.lineCap = 'round';
    this.ctx.lineJoin = 'round';
    this.ctx.lineWidth = 22;
    this.ctx.strokeStyle = '#000';
    let drawing = false;
    const at = (e: PointerEvent): [number, number] => {
      const r = canvas.getBoundingClientRect();
      return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
    };
    canvas.addEventListener('pointerdown', (e) => {
      drawing = true;
      canvas.setPointerCapture(e.pointerId);
      this.ctx.beginPath();
      this.ctx.moveTo(...at(e));
      this.ctx.lineTo(...at(e));
      this.ctx.stroke();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!drawing) return;
      this.ctx.lineTo(...at(e));
      this.ctx.stroke();
    });
    const end = () => {
      if (!drawing) return;
      drawing = false;
      void this.predict();
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    $('clear').addEventListener('click', () => this.clear());
  }

  clear(): void {
    this.ctx.clearRect(0, 0, 280, 280);
    $<HTMLCanvasElement>('input28').getContext('2d')!.clearRect(0, 0, 28, 28);
    this.last = null;
    this.onPredict(null);
  }

  /** The drawing as 28×28 (ink from the canvas's alpha), shown beside it; null when blank. */
  private digit(): Float32Array<ArrayBuffer> | null {
    const { data } = this.ctx.getImageData(0, 0, 280, 280);
    const ink = new Float32Array(280 * 280);
    for (let i = 0; i < ink.length; i++) ink[i] = data[4 * i + 3]! / 255;
    const x = digitize(ink, 280, 280);
    const small = $<HTMLCanvasElement>('input28').getContext('2d')!;
    const img = small.createImageData(28, 28);
    x?.forEach((v, i) => img.data.set([255 * v, 255 * v, 255 * v, 255], 4 * i));
    small.putImageData(img, 0, 0);
    return x;
  }

  /** Predict the drawing with the current model, between training steps. */
  async predict(): Promise<void> {
    // strokes drawn while a prediction waits for the lock are included when it runs
    if (this.pending) return;
    this.pending = true;
    try {
      await runs.with(async () => {
        this.pending = false;
        const x = this.digit();
        if (!x) return this.onPredict(null);
        const { model, params, state, provider, key } = this.source.current();
        if (this.compiled?.key !== key) {
          await this.compiled?.fn.release();
          const fn: Predict = deq.jit((p: unknown, s: unknown, img: Value) => {
            const out = model.apply(p, s, img, { train: false });
            return { logits: out.logits, stats: out.stats };
          }, { runtime: 'web', executionProviders: executionProviders(provider), name: 'predict' });
          this.compiled = { key, fn };
        }
        const fn = this.compiled.fn;
        const out = (await fn(params, state, new deq.Tensor('float32', [1, 1, 28, 28], x))) as { logits: deq.Tensor; stats: deq.ConcreteStats };
        const report = deq.readStats(out.stats);
        const logits = out.logits.toArray();
        const top = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - top));
        const sum = e.reduce((a, b) => a + b, 0);
        const probabilities = e.map((v) => v / sum);
        const session = (await fn.compile(params, state, new deq.Tensor('float32', [1, 1, 28, 28], x))).session;
        this.last = {
          digit: probabilities.indexOf(Math.max(...probabilities)), probabilities,
          iterations: report.iterations, converged: report.converged, trace: report.trace ?? [], provider: session.provider,
        };
        this.show(this.last);
        this.onPredict(this.last);
      });
    } catch (e) {
      this.pending = false;
      this.onPredict(null, message(e));
    }
  }

  private show(p: Prediction): void {
    $('prediction').textContent = String(p.digit);
    $('probabilities').replaceChildren(...p.probabilities.flatMap((v, d) => {
      const bar = el('span', { className: 'bar' });
      bar.style.width = `${(160 * v).toFixed(1)}px`;
      return [el('span', {}, String(d)), bar, el('span', {}, `${(100 * v).toFixed(1)}%`)];
    }));
    $('solve').textContent = `${p.iterations} iterations${p.converged ? '' : ' (stopped before the tolerance)'}, on ${p.provider}`;
    drawChart('draw-chart', [{ name: 'Forward', values: p.trace, color: PALETTE[0]! }], 'This digit\'s solve', 'Iteration', 'Relative residual');
  }
}
