#!/usr/bin/env python3
"""Export the Deep Implicit Layers tutorial's tanh cell, tanh(W z + x) with nn.Linear(bias=False),
from PyTorch to test/fixtures/torch_tanh_cell.onnx, with PyTorch's output and its gradients for a
fixed cotangent in test/fixtures/torch_tanh_cell.json. The tests read these files; they never need
torch. Regenerate with Debian's Python:  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/make-torch-fixtures.py
(Debian: apt-get install -y python3-torch python3-onnx)."""
import json
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures')


class TanhCell(nn.Module):
    """One step of the tutorial's TanhFixedPointLayer: z -> tanh(W z + x)."""

    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)

    def forward(self, z, x):
        return torch.tanh(self.linear(z) + x)


class SmallConvNet(nn.Module):
    """Conv, ReLU, a view by the batch size (Shape/Gather/Concat/Reshape in ONNX), Linear, log-softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return torch.log_softmax(self.fc(h.view(h.size(0), -1)), dim=-1)


def entry(t):
    return {'shape': list(t.shape), 'data': [float(v) for v in t.detach().reshape(-1).tolist()]}


def export(name, module, inputs, description):
    """Export module(*inputs); record outputs and the gradients of sum(out * cotangent)."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    out = module(*leaves.values())
    cotangent = torch.randn(out.shape)
    (out * cotangent).sum().backward()
    grads = {k: entry(v.grad) for k, v in leaves.items()}
    grads.update({k: entry(p.grad) for k, p in module.named_parameters()})
    path = os.path.join(OUT, name + '.onnx')
    # no constant folding: weights stay initializers named as in PyTorch ("linear.weight"), so
    # gradients can be compared by parameter name
    torch.onnx.export(module, tuple(inputs.values()), path, input_names=list(inputs), output_names=['out'],
                      opset_version=17, do_constant_folding=False)
    ref = {
        'description': description,
        'torch_version': torch.__version__,
        'inputs': {k: entry(v) for k, v in inputs.items()},
        'params': {k: entry(p) for k, p in module.named_parameters()},
        'cotangent': entry(cotangent),
        'out': entry(out),
        'grads': grads,
    }
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(ref, f, indent=1)
        f.write('\n')
    print('wrote', path)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    export('torch_tanh_cell', TanhCell(5), {'z': torch.randn(3, 5), 'x': torch.randn(3, 5)},
           'tanh(linear(z) + x), nn.Linear(5, 5, bias=False), float32; grads of sum(out * cotangent)')
    export('torch_small_convnet', SmallConvNet(), {'x': torch.randn(2, 1, 4, 4)},
           'log_softmax(fc(relu(conv(x)).view(n, -1))), float32; grads of sum(out * cotangent)')


if __name__ == '__main__':
    main()
