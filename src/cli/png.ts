/**
 * Rasterise a chart and encode it as PNG: RGB 8-bit, unfiltered scanlines, zlib from node.
 * Lines are stamped discs along each segment; text uses the 5×7 bitmap font.
 */
import { deflateSync } from 'node:zlib';
import type { Chart } from './chart.js';
import { glyph, GLYPH_H, GLYPH_W } from './font.js';

export class Raster {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: [number, number, number] = [255, 255, 255]) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, i * 3);
  }

  set(x: number, y: number, c: [number, number, number], alpha = 1): void {
    const xi = Math.round(x), yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    const o = (yi * this.width + xi) * 3;
    for (let k = 0; k < 3; k++) this.pixels[o + k] = Math.round(this.pixels[o + k]! * (1 - alpha) + c[k]! * alpha);
  }

  /** A line of the given width: discs stamped every quarter pixel. */
  line(x0: number, y0: number, x1: number, y1: number, c: [number, number, number], width = 1): void {
    const len = Math.hypot(x1 - x0, y1 - y0);
    const steps = Math.max(1, Math.ceil(len * 4));
    const r = width / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      if (r <= 0.5) { this.set(x, y, c); continue; }
      for (let dy = -Math.ceil(r); dy <= Math.ceil(r); dy++) {
        for (let dx = -Math.ceil(r); dx <= Math.ceil(r); dx++) if (dx * dx + dy * dy <= r * r) this.set(x + dx, y + dy, c);
      }
    }
  }

  /** Text with the bitmap font, scaled by an integer factor; vertical text reads bottom to top. */
  text(x: number, y: number, s: string, c: [number, number, number], scale: number, anchor: 'start' | 'middle' | 'end', vertical = false): void {
    const advance = (GLYPH_W + 1) * scale;
    const total = s.length * advance - scale;
    const shift = anchor === 'start' ? 0 : anchor === 'middle' ? total / 2 : total;
    [...s].forEach((ch, i) => {
      const rows = glyph(ch);
      const off = i * advance - shift;
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          if (!((rows[gy]! >> (GLYPH_W - 1 - gx)) & 1)) continue;
          for (let sy = 0; sy < scale; sy++) {
            for (let sx = 0; sx < scale; sx++) {
              const u = off + gx * scale + sx; // along the text
              const v = (gy - GLYPH_H) * scale + sy; // above the baseline
              if (vertical) this.set(x + v + GLYPH_H * scale / 2, y - u, c);
              else this.set(x + u, y + v, c);
            }
          }
        }
      }
    });
  }
}

const rgb = (hex: string): [number, number, number] => {
  const h = hex.replace('#', '');
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
};

export function rasterise(c: Chart): Raster {
  const r = new Raster(c.width, c.height);
  for (const s of c.shapes) {
    if (s.kind === 'line') {
      for (let i = 1; i < s.points.length; i++) {
        const [a, b] = [s.points[i - 1]!, s.points[i]!];
        r.line(a[0], a[1], b[0], b[1], rgb(s.color), s.width);
      }
    } else {
      r.text(s.x, s.y, s.text, rgb(s.color), s.size >= 12 ? 2 : 1, s.anchor, s.vertical);
    }
  }
  return r;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encode RGB pixels as a PNG file. */
export function encodePng(r: Raster): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, r.width);
  v.setUint32(4, r.height);
  ihdr.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), deflate, no filter method, no interlace
  const stride = r.width * 3;
  const raw = new Uint8Array((stride + 1) * r.height);
  for (let y = 0; y < r.height; y++) raw.set(r.pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1); // filter byte 0
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', new Uint8Array(deflateSync(raw, { level: 9 }))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
