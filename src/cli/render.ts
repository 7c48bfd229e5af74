/**
 * SVG → PNG with resvg, so that the PNG is the SVG's own picture. Text is set in DejaVu Sans from
 * the dejavu-fonts-ttf package (its licence ships with it) rather than system fonts, so the PNG
 * has the same real glyphs on a machine without any fonts installed.
 */
import { createRequire } from 'node:module';
import { Resvg } from '@resvg/resvg-js';

const require = createRequire(import.meta.url);
export const FONT_FAMILY = 'DejaVu Sans';
const fontFile = (): string => require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');

export function svgToPng(svg: string): Uint8Array {
  const resvg = new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: [fontFile()], defaultFontFamily: FONT_FAMILY } });
  return new Uint8Array(resvg.render().asPng());
}
