/**
 * A drawing as an MNIST digit, the way MNIST's digits were made: the ink's bounding box is scaled
 * (aspect kept, by area averaging) to fit 20×20, then placed in a 28×28 image so that its centre of
 * mass sits at the centre, (14, 14), as near as the frame allows. Intensities are scaled so that the
 * darkest pixel is 1.
 */

/** ink: coverage in [0, 1] per pixel of a width × height drawing, row by row. Null when blank. */
export function digitize(ink: ArrayLike<number>, width: number, height: number): Float32Array<ArrayBuffer> | null {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! > 0.01) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale)), th = Math.max(1, Math.round(bh * scale));
  const box = resample(ink, width, x0, y0, bw, bh, tw, th);
  // centre of mass of the scaled box, in pixel-centre coordinates
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = box[y * tw + x]!;
      mass += v; mx += v * (x + 0.5); my += v * (y + 0.5);
    }
  }
  // the shift never pushes ink out of the frame (a heavy stroke on one side would otherwise)
  const ox = Math.min(28 - tw, Math.max(0, Math.round(14 - mx / mass)));
  const oy = Math.min(28 - th, Math.max(0, Math.round(14 - my / mass)));
  const out = new Float32Array(28 * 28);
  let peak = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = box[y * tw + x]!;
      out[(y + oy) * 28 + x + ox] = v;
      peak = Math.max(peak, v);
    }
  }
  if (peak > 0) for (let i = 0; i < out.length; i++) out[i] = Math.min(1, out[i]! / peak);
  return out;
}

/** The bw × bh region at (x0, y0) of a `stride`-wide image, area-averaged to tw × th. */
function resample(src: ArrayLike<number>, stride: number, x0: number, y0: number, bw: number, bh: number, tw: number, th: number): Float32Array {
  const cols = weights(bw, tw);
  const rows = weights(bh, th);
  const out = new Float32Array(tw * th);
  for (const [ty, sy, wy] of rows) {
    for (const [tx, sx, wx] of cols) out[ty * tw + tx]! += wy * wx * src[(y0 + sy) * stride + x0 + sx]!;
  }
  return out;
}

/** [target, source, weight] triples: how much of each source pixel falls in each target pixel, normalised per target. */
function weights(n: number, m: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  const step = n / m;
  for (let t = 0; t < m; t++) {
    const a = t * step, b = (t + 1) * step;
    for (let s = Math.floor(a); s < Math.min(n, Math.ceil(b)); s++) {
      const w = Math.min(b, s + 1) - Math.max(a, s);
      if (w > 0) out.push([t, s, w / step]);
    }
  }
  return out;
}
