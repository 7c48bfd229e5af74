/** Render a chart as SVG text. */
import type { Chart } from './chart.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const r2 = (v: number) => Math.round(v * 100) / 100;

export function chartToSvg(c: Chart): string {
  const body = c.shapes.map((s) => {
    if (s.kind === 'line') {
      const pts = s.points.map(([x, y]) => `${r2(x)},${r2(y)}`).join(' ');
      return `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${s.width}" stroke-linejoin="round"/>`;
    }
    const rot = s.vertical ? ` transform="rotate(-90 ${r2(s.x)} ${r2(s.y)})"` : '';
    return `<text x="${r2(s.x)}" y="${r2(s.y)}" font-size="${s.size}" text-anchor="${s.anchor}" fill="${s.color}"${rot}>${esc(s.text)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${c.width}" height="${c.height}" viewBox="0 0 ${c.width} ${c.height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
