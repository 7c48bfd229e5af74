/** Small DOM helpers and the page's charts: the CLI's semilog chart (deq plot's), as inline SVG. */
import { PALETTE, semilogChart, type Series } from '../src/cli/chart.js';
import { chartToSvg } from '../src/cli/svg.js';

export { PALETTE };

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

export function drawChart(id: string, series: Series[], title: string, xLabel: string, yLabel: string): void {
  $(id).innerHTML = chartToSvg(semilogChart(series, { title, xLabel, yLabel, width: 600, height: 360 }));
}

export const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Let the browser paint and handle input. */
export const nextFrame = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
