#!/usr/bin/env python3
"""Cells for test/cell-cli.test.ts and test/onnx-cell.test.ts that the zoo (scripts/make-zoo.py)
does not hold: a convolutional cell exported with dynamic height and width axes (so that it fits
the digits' 28x28 images) and cells whose inputs have other names and order, exported from PyTorch
as users do.

Regenerate (the tests read the committed files and never need torch):
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/make-cell-fixtures.py
"""
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'cells')


class ConvGroupNormCell(nn.Module):
    """z_next = tanh(GroupNorm(conv3x3(z)) + x), 4 channels, 2 groups, any image size."""

    def __init__(self, c=4):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.norm = nn.GroupNorm(2, c)

    def forward(self, z, x):
        return torch.tanh(self.norm(self.conv(z)) + x)


class SwappedCell(nn.Module):
    """h_next = tanh(W h + U u) with inputs named u (injection) first, then h (state): a file whose
    inputs are not z and x, and not in z, x order."""

    def __init__(self, d=12, e=6):
        super().__init__()
        self.w = nn.Linear(d, d)
        self.u = nn.Linear(e, d, bias=False)

    def forward(self, u, h):
        return torch.tanh(self.w(h) + self.u(u))


def export(module, args, names, output, dynamic, path):
    module.eval()
    torch.onnx.export(module, args, path, input_names=names, output_names=[output], opset_version=17,
                      dynamic_axes=dynamic, do_constant_folding=True)
    print('wrote', os.path.relpath(path))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    conv = ConvGroupNormCell()
    conv.conv.weight.data *= 0.5
    spatial = {0: 'batch', 2: 'height', 3: 'width'}
    export(conv, (torch.zeros(2, 4, 5, 5), torch.zeros(2, 4, 5, 5)), ['z', 'x'], 'z_next',
           {'z': spatial, 'x': spatial, 'z_next': spatial}, os.path.join(OUT, 'conv_groupnorm.onnx'))
    swapped = SwappedCell()
    swapped.w.weight.data *= 0.5
    batch = {0: 'batch'}
    export(swapped, (torch.zeros(2, 6), torch.zeros(2, 12)), ['u', 'h'], 'h_next',
           {'u': batch, 'h': batch, 'h_next': batch}, os.path.join(OUT, 'swapped_inputs.onnx'))


if __name__ == '__main__':
    main()
