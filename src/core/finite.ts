/**
 * Whether every element of a float array is finite, with WebAssembly SIMD where the engine has it.
 * jit checks each new input before its run completes (a training step feeds new tensors every
 * call), and a JS loop over the elements costs about as much as running a small graph; the SIMD
 * loop is several times faster, copy into its memory included.
 *
 * The test is v · 0, summed: 0 for finite v, NaN for NaN and ±Inf, so the sum is 0 exactly when
 * every element is finite. The module is assembled below from its instructions (two functions,
 * f32x4 and f64x2, over the first `bytes` bytes of its memory, a multiple of 64).
 */

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const simd = (op: number) => [0xfd, ...uleb(op)];
const V128_ZERO = [...simd(0x0c), ...Array<number>(16).fill(0)];

/**
 * (func (param $bytes i32) (result i32)): all lanes of Σ v·0 over memory[0, bytes) equal zero;
 * `bytes` a multiple of 64, four vectors a round into four sums (one sum would wait on each add).
 */
function checkBody(mul: number, add: number, eq: number, allTrue: number): number[] {
  const acc = (k: number, offset: number) => [
    0x20, 2 + k, // acc_k
    0x20, 0x01, ...simd(0x00), 0x04, ...uleb(offset), // v128.load offset=… [i]
    ...V128_ZERO, ...simd(mul), ...simd(add), 0x21, 2 + k, // acc_k += v * 0
  ];
  const code = [
    0x02, 0x40, // block
    0x03, 0x40, //   loop
    0x20, 0x01, 0x20, 0x00, 0x4f, 0x0d, 0x01, // if i >= bytes: break
    ...acc(0, 0), ...acc(1, 16), ...acc(2, 32), ...acc(3, 48),
    0x20, 0x01, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x01, // i += 64
    0x0c, 0x00, // continue
    0x0b, 0x0b, // end loop, end block
    // the four sums added (a NaN stays NaN), then every lane == 0
    0x20, 0x02, 0x20, 0x03, ...simd(add), 0x20, 0x04, ...simd(add), 0x20, 0x05, ...simd(add),
    ...V128_ZERO, ...simd(eq), ...simd(allTrue),
    0x0b,
  ];
  const body = [0x02, 0x01, 0x7f, 0x04, 0x7b, ...code]; // locals: i32 $i, 4 × v128 sums
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const f32 = checkBody(0xe6, 0xe4, 0x41, 0xa3); // f32x4.mul, f32x4.add, f32x4.eq, i32x4.all_true
  const f64 = checkBody(0xf2, 0xf0, 0x47, 0xc3); // f64x2.mul, f64x2.add, f64x2.eq, i64x2.all_true
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]), // type: (i32) -> i32
    ...section(3, [0x02, 0x00, 0x00]), // two functions of that type
    ...section(5, [0x01, 0x00, 0x01]), // one memory, one page to start
    ...section(7, [0x03, ...name('mem'), 0x02, 0x00, ...name('f32'), 0x00, 0x00, ...name('f64'), 0x00, 0x01]),
    ...section(10, [0x02, ...f32, ...f64]),
  ]);
}

interface Checker { mem: WebAssembly.Memory; f32: (bytes: number) => number; f64: (bytes: number) => number }

/** The instantiated module, or null where WebAssembly or its SIMD is missing. */
const checker: Checker | null = (() => {
  try {
    if (typeof WebAssembly === 'undefined') return null;
    const bytes = moduleBytes();
    if (!WebAssembly.validate(bytes)) return null;
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    return exports as unknown as Checker;
  } catch {
    return null;
  }
})();

/** Below this many elements the copy and the call cost more than a JS loop. */
const SIMD_MIN = 256;

/** True when every element is finite; null when the SIMD path does not apply (the caller loops). */
export function allFiniteSimd(d: Float32Array | Float64Array): boolean | null {
  if (!checker || d.length < SIMD_MIN) return null;
  const bytes = (d.byteLength + 63) & ~63;
  const have = checker.mem.buffer.byteLength;
  if (bytes > have) checker.mem.grow(Math.ceil((bytes - have) / 65536));
  const mem = new Uint8Array(checker.mem.buffer, 0, bytes);
  mem.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  mem.fill(0, d.byteLength);
  return (d instanceof Float32Array ? checker.f32(bytes) : checker.f64(bytes)) === 1;
}

/** Whether the SIMD path is available here (tests check both paths). */
export const simdFiniteAvailable = (): boolean => checker !== null;
