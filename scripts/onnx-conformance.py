#!/usr/bin/env python3
"""Generate ONNX's own backend node tests (the conformance suite test/conformance.test.ts runs)
into a cache folder, default .cache/onnx-node-tests/ at the repository root:

  <folder>/node/test_*/model.onnx, test_data_set_0/input_*.pb, output_*.pb (TensorProto)

Debian's python3-onnx (1.12) ships the generators; run with Debian's Python:
  /usr/bin/python3 scripts/onnx-conformance.py [folder]
(apt-get install -y python3-onnx). The cases are written to a temporary folder beside the target
and moved into place when complete, so an interrupted run never leaves a partial cache; the file
<folder>/GENERATED records the onnx version and the number of cases.
"""
import os
import runpy
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, '..', '.cache', 'onnx-node-tests')

# onnx 1.12's generators use numpy aliases that numpy 1.24 removed: give them back
for alias, builtin in (('float', float), ('int', int), ('bool', bool), ('object', object), ('complex', complex)):
    if alias not in vars(np):
        setattr(np, alias, builtin)

import onnx  # noqa: E402  (after the aliases)


def main():
    target = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.onnx-node-tests-', dir=parent)
    try:
        sys.argv = ['onnx.backend.test.cmd_tools', 'generate-data', '-o', tmp]
        runpy.run_module('onnx.backend.test.cmd_tools', run_name='__main__')
        # only the node tests are used; the model tests ('real') need downloads
        for kind in os.listdir(tmp):
            if kind != 'node':
                shutil.rmtree(os.path.join(tmp, kind))
        cases = sorted(os.listdir(os.path.join(tmp, 'node')))
        with open(os.path.join(tmp, 'GENERATED'), 'w') as fh:
            fh.write(f'onnx {onnx.__version__}\n{len(cases)} node test cases\n')
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    print(f'wrote {len(cases)} ONNX {onnx.__version__} node test cases to {target}')


if __name__ == '__main__':
    main()
