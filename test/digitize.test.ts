/**
 * The demo page's drawing → MNIST digit: the ink's bounding box scaled to fit 20×20 (aspect kept,
 * by area averaging) and its centre of mass moved to the centre of 28×28, as MNIST's digits were made.
 */
import { describe, expect, it } from 'vitest';
import { digitize } from '../demo/digitize.js';

/** A w × h drawing with the rectangle [x0, x1) × [y0, y1) inked at `v`. */
function drawing(w: number, h: number, rects: [number, number, number, number, number?][]): Float32Array {
  const ink = new Float32Array(w * h);
  for (const [x0, y0, x1, y1, v = 1] of rects) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) ink[y * w + x] = v;
  return ink;
}

const at = (img: Float32Array, x: number, y: number) => img[y * 28 + x]!;
const box = (img: Float32Array) => {
  let x0 = 28, y0 = 28, x1 = -1, y1 = -1;
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) if (at(img, x, y) > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  return { x0, y0, x1, y1 };
};
const centreOfMass = (img: Float32Array) => {
  let m = 0, cx = 0, cy = 0;
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) { const v = at(img, x, y); m += v; cx += v * (x + 0.5); cy += v * (y + 0.5); }
  return [cx / m, cy / m];
};

describe('digitize', () => {
  it('is null for a blank drawing', () => {
    expect(digitize(new Float32Array(280 * 280), 280, 280)).toBeNull();
  });

  it('scales a tall stroke to 20 pixels high, keeps its aspect, and centres its mass', () => {
    // a 20 × 200 bar in the top-left corner of 280 × 280: 2 × 20 pixels after scaling by 1/10
    const img = digitize(drawing(280, 280, [[10, 5, 30, 205]]), 280, 280)!;
    const b = box(img);
    expect(b.y1 - b.y0 + 1).toBe(20);
    expect(b.x1 - b.x0 + 1).toBe(2);
    const [cx, cy] = centreOfMass(img);
    expect(Math.abs(cx - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(cy - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.max(...img)).toBe(1);
  });

  it('puts the centre of mass, not the box, at the centre', () => {
    // an L: the foot pulls the mass down, so the box sits higher than a centred box would
    const img = digitize(drawing(200, 200, [[0, 0, 20, 200], [0, 180, 200, 200]]), 200, 200)!;
    const [cx, cy] = centreOfMass(img);
    expect(Math.abs(cx - 14)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(cy - 14)).toBeLessThanOrEqual(0.5);
    const b = box(img);
    expect([b.x1 - b.x0 + 1, b.y1 - b.y0 + 1]).toEqual([20, 20]);
    expect((b.y0 + b.y1) / 2).toBeLessThan(13.5);
  });

  it('keeps the whole drawing in the frame when the centre of mass would push it out', () => {
    const img = digitize(drawing(200, 200, [[0, 0, 20, 200], [0, 160, 200, 200]]), 200, 200)!;
    const b = box(img);
    expect([b.x1 - b.x0 + 1, b.y1 - b.y0 + 1]).toEqual([20, 20]);
    expect(b.y0).toBe(0);
    expect(centreOfMass(img)[1]).toBeGreaterThan(14);
  });

  it('averages partial coverage: a faint half-width stroke keeps its shape at full contrast', () => {
    const img = digitize(drawing(100, 100, [[40, 0, 60, 100, 0.5]]), 100, 100)!;
    const b = box(img);
    expect(b.y1 - b.y0 + 1).toBe(20);
    expect(b.x1 - b.x0 + 1).toBe(4);
    // intensities are scaled so that the darkest pixel is 1
    expect(Math.max(...img)).toBe(1);
    expect(at(img, b.x0, 14)).toBe(1);
  });
});
