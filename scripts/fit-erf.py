#!/usr/bin/env python3
"""Fit the float64 erf that src/ops/special.ts lowers to (onnxruntime has no float64 Erf kernel),
and measure it. Pieces, each a polynomial evaluated by Horner's rule in float64:

  |x| <= 1:        erf(x)  = x * A(x^2)                      (A: 13 coefficients on t in [0, 1])
  1 < |x| <= 2.5:  erfc(|x|) = exp(-x^2) * B(s), s = (|x| - 1.75) / 0.75     (18 coefficients)
  2.5 < |x|:       erfc(|x|) = exp(-x^2) * C(s), s = (min(|x|, 6) - 4.25) / 1.75  (20 coefficients)

and erf(x) = sign(x) (1 - erfc(|x|)) outside [-1, 1] (at |x| >= 6, erfc < 2.2e-17 rounds away).
Coefficients come from mpmath's Chebyshev fits (mpmath.chebyfit) at 40 digits, highest power
first. Run with Debian's Python (python3-mpmath, pulled in by python3-sympy / python3-torch):
  /usr/bin/python3 scripts/fit-erf.py
It prints the coefficient arrays and the largest relative error of the float64 evaluation against
mpmath's erf over 26,000 points in [0, 6.2].
"""
import math
import random

import mpmath as mp

mp.mp.dps = 40


def horner(cs, s):
    r = 0.0
    for c in cs:
        r = r * s + c
    return r


def fit_small(n):
    return [float(v) for v in mp.chebyfit(lambda t: mp.erf(mp.sqrt(t)) / mp.sqrt(t) if t != 0 else 2 / mp.sqrt(mp.pi), [0, 1], n)]


def fit_tail(lo, hi, n):
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    return [float(v) for v in mp.chebyfit(lambda s: mp.erfc(mid + half * s) * mp.exp((mid + half * s) ** 2), [-1, 1], n)], mid, half


A = fit_small(13)
B, b_mid, b_half = fit_tail(1, 2.5, 18)
C, c_mid, c_half = fit_tail(2.5, 6, 20)


def erf64(x):
    a = abs(x)
    if a <= 1:
        return x * horner(A, x * x)
    if a <= 2.5:
        q = horner(B, (a - b_mid) / b_half)
    else:
        q = horner(C, (min(a, 6.0) - c_mid) / c_half)
    return math.copysign(1.0 - math.exp(-a * a) * q, x)


def main():
    for name, cs in (('SMALL', A), ('MIDDLE', B), ('TAIL', C)):
        print(f'const {name} = [{", ".join(repr(c) for c in cs)}];')
    random.seed(1)
    xs = [random.uniform(0, 6.2) for _ in range(20000)] + [i / 1000 for i in range(1, 6200)] + [1e-300, 1e-10, 1.0, 2.5, 6.0]
    worst = max(float(abs(mp.mpf(erf64(x)) - mp.erf(mp.mpf(x))) / abs(mp.erf(mp.mpf(x)))) for x in xs)
    print(f'// largest relative error of the float64 evaluation on {len(xs)} points in (0, 6.2]: {worst:.2e}')


if __name__ == '__main__':
    main()
