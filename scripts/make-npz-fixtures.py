#!/usr/bin/env python3
"""NumPy .npz files for test/npz.test.ts and the `deq check --inputs` tests, written by NumPy itself.

  gated-inputs.npz             z, x, g of test/fixtures/zoo/gated.opset17.float32.json (np.savez)
  gated-inputs.compressed.npz  the same, deflated (np.savez_compressed)
  kinds.npz                    one array of each supported dtype, and a 0-d one
  fortran.npz                  a Fortran-order array (refused)
  float16.npz                  a float16 array (refused)

Regenerate: /usr/bin/python3 scripts/make-npz-fixtures.py
"""
import json
import os

import numpy as np

root = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
out = os.path.join(root, 'npz')
os.makedirs(out, exist_ok=True)
with open(os.path.join(root, 'zoo', 'gated.opset17.float32.json')) as f:
    ref = json.load(f)
arrays = {k: np.array(ref[k]['data'], dtype=np.float32).reshape(ref[k]['shape']) for k in ('z', 'x', 'g')}
np.savez(os.path.join(out, 'gated-inputs.npz'), **arrays)
np.savez_compressed(os.path.join(out, 'gated-inputs.compressed.npz'), **arrays)
np.savez(os.path.join(out, 'kinds.npz'),
         f4=np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
         f8=np.arange(4, dtype=np.float64) / 3,
         i4=np.array([-1, 2, 3], dtype=np.int32),
         i8=np.array([[2 ** 40, -5]], dtype=np.int64),
         b1=np.array([True, False, True]),
         scalar=np.float64(2.5))
np.savez(os.path.join(out, 'fortran.npz'), a=np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.savez(os.path.join(out, 'float16.npz'), a=np.ones(3, dtype=np.float16))
