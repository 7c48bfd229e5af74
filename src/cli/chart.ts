/**
 * A semilog-y line chart (the tutorial's residual plot) as a list of drawing primitives, written as
 * SVG by svg.ts (and rendered to PNG from that SVG by render.ts).
 */
export interface Series { name: string; values: readonly number[]; color: string }

export type Shape =
  | { kind: 'line'; points: [number, number][]; color: string; width: number; dash?: boolean }
  | { kind: 'text'; x: number; y: number; text: string; size: number; anchor: 'start' | 'middle' | 'end'; vertical?: boolean; color: string };

export interface Chart { width: number; height: number; shapes: Shape[] }

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

/** matplotlib's first two colours, as in the tutorial's figure. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];

function niceStep(range: number, target: number): number {
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
}

export function semilogChart(series: readonly Series[], o: ChartOptions): Chart {
  const width = o.width ?? 640;
  const height = o.height ?? 420;
  const m = { left: 92, right: 24, top: 44, bottom: 56 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const positive = series.flatMap((s) => s.values.filter((v) => v > 0 && Number.isFinite(v)));
  const lo = positive.length ? Math.floor(Math.log10(Math.min(...positive))) : -6;
  let hi = positive.length ? Math.ceil(Math.log10(Math.max(...positive))) : 0;
  if (hi <= lo) hi = lo + 1;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const X = (i: number) => m.left + (i / (n - 1)) * pw;
  const Y = (v: number) => m.top + ((hi - Math.log10(v)) / (hi - lo)) * ph;
  const shapes: Shape[] = [];
  const grey = '#444444';
  const grid = '#dddddd';
  // grid and ticks: one per decade on y, nice integers on x
  for (let d = lo; d <= hi; d++) {
    const y = Y(10 ** d);
    shapes.push({ kind: 'line', points: [[m.left, y], [m.left + pw, y]], color: grid, width: 1 });
    shapes.push({ kind: 'text', x: m.left - 8, y: y + 4, text: `1e${d}`, size: 12, anchor: 'end', color: grey });
  }
  const step = Math.max(1, niceStep(n - 1, 8));
  for (let i = 0; i <= n - 1; i += step) {
    const x = X(i);
    shapes.push({ kind: 'line', points: [[x, m.top], [x, m.top + ph]], color: grid, width: 1 });
    shapes.push({ kind: 'text', x, y: m.top + ph + 18, text: String(i), size: 12, anchor: 'middle', color: grey });
  }
  shapes.push({ kind: 'line', points: [[m.left, m.top], [m.left, m.top + ph], [m.left + pw, m.top + ph], [m.left + pw, m.top], [m.left, m.top]], color: grey, width: 1 });
  series.forEach((s) => {
    const pts = s.values.flatMap((v, i): [number, number][] => (v > 0 && Number.isFinite(v) ? [[X(i), Y(v)]] : []));
    if (pts.length) shapes.push({ kind: 'line', points: pts, color: s.color, width: 2 });
  });
  // legend, top right inside the plot
  series.forEach((s, k) => {
    const y = m.top + 18 + k * 20;
    const x = m.left + pw - 150;
    shapes.push({ kind: 'line', points: [[x, y - 4], [x + 24, y - 4]], color: s.color, width: 2 });
    shapes.push({ kind: 'text', x: x + 32, y, text: s.name, size: 12, anchor: 'start', color: '#222222' });
  });
  shapes.push({ kind: 'text', x: width / 2, y: 26, text: o.title, size: 14, anchor: 'middle', color: '#222222' });
  shapes.push({ kind: 'text', x: m.left + pw / 2, y: height - 14, text: o.xLabel, size: 13, anchor: 'middle', color: '#222222' });
  shapes.push({ kind: 'text', x: 14, y: m.top + ph / 2, text: o.yLabel, size: 13, anchor: 'middle', vertical: true, color: '#222222' });
  return { width, height, shapes };
}
