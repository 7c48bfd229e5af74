import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { PALETTE, semilogChart } from '../src/cli/chart.js';
import { svgToPng } from '../src/cli/render.js';
import { chartToSvg } from '../src/cli/svg.js';

const chart = semilogChart(
  [{ name: 'Forward', values: [1, 0.1, 0.01, 1e-3], color: PALETTE[0]! }, { name: 'Backward', values: [1, 0.2, 0.04], color: PALETTE[1]! }],
  { title: 'Residual per iteration', xLabel: 'Iteration', yLabel: 'Relative residual' },
);

/** Dark pixels (the text is #222222, the lines are coloured or light grey) in a box. */
function ink(png: PNG, x0: number, y0: number, x1: number, y1: number): { pixels: number; columns: number[] } {
  let pixels = 0;
  const columns: number[] = [];
  for (let x = x0; x < x1; x++) {
    let inColumn = false;
    for (let y = y0; y < y1; y++) {
      const i = (y * png.width + x) * 4;
      if (png.data[i]! < 110 && png.data[i + 1]! < 110 && png.data[i + 2]! < 110) { pixels++; inColumn = true; }
    }
    if (inColumn) columns.push(x);
  }
  return { pixels, columns };
}

/** Runs of consecutive inked columns: roughly one per glyph. */
const runs = (cols: number[]) => cols.filter((c, i) => i === 0 || cols[i - 1] !== c - 1).length;

describe('the residual plot as PNG', () => {
  const svg = chartToSvg(chart);
  const png = PNG.sync.read(Buffer.from(svgToPng(svg)));

  it('decodes, with the size the SVG declares', () => {
    const [, w, h] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!;
    expect([png.width, png.height]).toEqual([Number(w), Number(h)]);
    expect([png.width, png.height]).toEqual([chart.width, chart.height]);
  });

  it('shows the text as glyphs (the same picture without <text> has none there)', () => {
    const noText = PNG.sync.read(Buffer.from(svgToPng(svg.replace(/<text[^>]*>[^<]*<\/text>/g, ''))));
    // the title, 14 px, centred on y = 26
    const title = ink(png, 0, 8, png.width, 32);
    expect(ink(noText, 0, 8, png.width, 32).pixels).toBe(0);
    expect(title.pixels).toBeGreaterThan(150);
    // "Residual per iteration" is 22 characters: its glyphs make many separate runs of columns
    expect(runs(title.columns)).toBeGreaterThanOrEqual(15);
    // the title is about as wide as 22 characters of a 14 px font, not a line across the image
    const width = title.columns[title.columns.length - 1]! - title.columns[0]!;
    expect(width).toBeGreaterThan(100);
    expect(width).toBeLessThan(250);
    // and the image is the SVG's: everything outside the text is the same as without it
    let differ = 0;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i] !== noText.data[i]) differ++;
    expect(differ).toBeGreaterThan(500);
    expect(differ).toBeLessThan(png.width * png.height * 0.1);
  });
});
