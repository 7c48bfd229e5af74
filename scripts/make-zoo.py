#!/usr/bin/env python3
"""The cell zoo: small implicit-layer cells f(z, x) exported from PyTorch to ONNX, with reference
values computed by PyTorch's autograd in float64, for test/import-zoo.test.ts.

Each cell is exported with torch.onnx.export as users do (default constant folding, eval mode),
inputs named z and x, output z_next, a dynamic batch axis on every input and output, at opsets 13
and 17, in float32 and float64. Next to every <name>.onnx, <name>.json holds:

  - z, x, g: batch-2 inputs and a cotangent (for float32 files, float32 values);
  - f: f(z, x);
  - vjp: the VJP of f at (z, x) with cotangent g with respect to z, x and every float initializer,
    by the initializer's ONNX name and in its ONNX layout (a MatMul weight arrives as W transposed);
  - fixed_point: z* = f(z*, x) from z = 0 (forward iteration, then Newton polishing);
  - implicit: dL/dx and dL/dtheta of L = <g, z*>, by an exact dense solve with the full Jacobian
    of f at z*: w = (I - J^T)^-1 g, then the VJP of f at (z*, x) with cotangent w;
  - tolerance: the largest relative error a runtime may show against these values.

References never come from the nn.Module directly: the exported graph itself is evaluated by a
small ONNX interpreter written with torch ops (`run_graph`), in float64, on the file's own
initializers (float32 ones upcast), and differentiated with autograd. So every gradient is with
respect to an initializer as the file stores it. The interpreter is checked against the module
(values and the gradients of the initializers that are module parameters, possibly transposed or
reshaped), and the implicit gradients against central differences of re-solved fixed points.

Regenerate (the tests read the committed files and never need torch):
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/make-zoo.py
(Debian: apt-get install -y python3-torch python3-onnx).
"""
import io
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'zoo')
OPSETS = (13, 17)
DTYPES = {'float32': torch.float32, 'float64': torch.float64}
BATCH = 2
EPS32 = float(np.float32(1e-5))
# Tolerances on the largest relative error max|got - ref| / max|ref|, per tensor, that the zoo's cells must meet.
TOLERANCE = {'float64': 1e-7, 'float32': 1e-5, 'float32_conv': 3e-5}
TOLERANCE_RULE = ('relative error = max_i |got_i - ref_i| / max_i |ref_i| over one tensor; '
                  'at most 1e-7 in float64, 1e-5 in float32, 3e-5 for conv cells in float32')


# ---- the cells ---------------------------------------------------------------------------------
class MLPLayerNormCell(nn.Module):
    """z_next = LayerNorm(tanh(W2 relu(W1 z + b1) + b2) + x); nn.Linear on [B, d] exports as Gemm."""

    def __init__(self, d=16, h=32):
        super().__init__()
        self.lin1 = nn.Linear(d, h)
        self.lin2 = nn.Linear(h, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, z, x):
        return self.norm(torch.tanh(self.lin2(torch.relu(self.lin1(z)))) + x)


class ResNetLayer(nn.Module):
    """The tutorial's ResNetLayer (two convolutions, three GroupNorms); torch 1.13 exports each
    GroupNorm as Reshape -> InstanceNormalization -> Reshape(Shape(x)) -> Mul -> Add."""

    def __init__(self, n_channels=8, n_inner_channels=16, kernel_size=3, num_groups=4):
        super().__init__()
        self.conv1 = nn.Conv2d(n_channels, n_inner_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.conv2 = nn.Conv2d(n_inner_channels, n_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm1 = nn.GroupNorm(num_groups, n_inner_channels)
        self.norm2 = nn.GroupNorm(num_groups, n_channels)
        self.norm3 = nn.GroupNorm(num_groups, n_channels)

    def forward(self, z, x):
        y = self.norm1(F.relu(self.conv1(z)))
        return self.norm3(F.relu(z + self.norm2(x + self.conv2(y))))


class ConvBatchNormCell(nn.Module):
    """z_next = tanh(BatchNorm(relu(conv(z)) + x)). BatchNorm follows an Add, not the Conv, so the
    exporter cannot fold it into the convolution: the graph keeps a BatchNormalization node."""

    def __init__(self, c=8):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, z, x):
        return torch.tanh(self.bn(torch.relu(self.conv(z)) + x))


class AttentionCell(nn.Module):
    """z_next = gelu(Wo softmax(Q K^T / sqrt(d)) V + bo + x) over [B, T, d] tokens; the projections
    on 3-D inputs export as MatMul with the transposed weight folded into an initializer."""

    def __init__(self, d=16):
        super().__init__()
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, z, x):
        a = torch.softmax(self.q(z) @ self.k(z).transpose(-1, -2) * self.scale, dim=-1)
        return F.gelu(self.o(a @ self.v(z)) + x)


class GatedCell(nn.Module):
    """GRU-like: gates r, u = sigmoid(W z + U x), candidate n = tanh(Wn (r * z) + Un x), and
    z_next = (1 - u) n + u x. (A GRU's own carry, u z, would make the gate's gradient vanish at
    every fixed point, where z* = n; carrying x keeps the gate in the implicit gradients.)"""

    def __init__(self, d=16):
        super().__init__()
        self.wr, self.ur = nn.Linear(d, d), nn.Linear(d, d, bias=False)
        self.wu, self.uu = nn.Linear(d, d), nn.Linear(d, d, bias=False)
        self.wn, self.un = nn.Linear(d, d), nn.Linear(d, d, bias=False)

    def forward(self, z, x):
        r = torch.sigmoid(self.wr(z) + self.ur(x))
        u = torch.sigmoid(self.wu(z) + self.uu(x))
        n = torch.tanh(self.wn(r * z) + self.un(x))
        return (1 - u) * n + u * x


def init_mlp(m):
    scale_(m.lin1.weight, 2.0)
    scale_(m.lin2.weight, 2.0)
    affine_(m.norm.weight, m.norm.bias, 0.5)


def init_resnet(m):
    # the tutorial draws the convolutions from N(0, 0.01); the norms get random affine parameters
    # in which the skip connection z + norm2(...) stays contractive when norm3 scales z smaller
    # than norm2 scales its output
    m.conv1.weight.data.normal_(0, 0.01)
    m.conv2.weight.data.normal_(0, 0.01)
    affine_(m.norm1.weight, m.norm1.bias, 1.0)
    affine_(m.norm2.weight, m.norm2.bias, 2.0)
    affine_(m.norm3.weight, m.norm3.bias, 0.5)


def init_convbn(m):
    scale_(m.conv.weight, 1.0)
    m.conv.bias.data.normal_(0, 0.1)
    affine_(m.bn.weight, m.bn.bias, 0.5)
    m.bn.running_mean.data.normal_(0, 0.3)
    m.bn.running_var.data.uniform_(0.8, 1.6)


def init_attention(m):
    for lin in (m.q, m.k, m.v, m.o):
        scale_(lin.weight, 1.2)
    m.o.bias.data.normal_(0, 0.1)


def init_gated(m):
    for lin in (m.wr, m.ur, m.wu, m.uu, m.wn, m.un):
        scale_(lin.weight, 1.2)
    for lin in (m.wr, m.wn):
        lin.bias.data.normal_(0, 0.1)
    m.wu.bias.data.normal_(-1.0, 0.1)  # the update gate leans closed


def scale_(w, norm):
    """Draw a weight from N(0, 1), rescaled to the given spectral norm (of its [out, in * k * k] matrix)."""
    w.data.normal_()
    w.data *= norm / torch.linalg.matrix_norm(w.data.reshape(w.shape[0], -1), ord=2)


def affine_(weight, bias, scale):
    weight.data.uniform_(0.6 * scale, 1.4 * scale)
    bias.data.normal_(0, 0.1)


# name, module class, initialiser, z shape without batch, conv cell?, ops the export must contain
CELLS = [
    ('mlp_layernorm', MLPLayerNormCell, init_mlp, (16,), False,
     {13: {'Gemm', 'ReduceMean', 'Pow', 'Sqrt'}, 17: {'Gemm', 'LayerNormalization'}},
     'LayerNorm(tanh(Linear(relu(Linear(z)))) + x), hidden 32, width 16'),
    ('resnet_groupnorm', ResNetLayer, init_resnet, (8, 6, 6), True,
     {13: {'Conv', 'InstanceNormalization', 'Shape', 'Reshape'}, 17: {'Conv', 'InstanceNormalization', 'Shape', 'Reshape'}},
     "the tutorial's ResNetLayer(8, 16, groups 4) on 6x6: GroupNorm as Reshape, InstanceNormalization, Reshape(Shape), Mul, Add"),
    ('conv_batchnorm', ConvBatchNormCell, init_convbn, (8, 6, 6), True,
     {13: {'Conv', 'BatchNormalization'}, 17: {'Conv', 'BatchNormalization'}},
     'tanh(BatchNorm(relu(Conv3x3(z)) + x)), 8 channels on 6x6, BatchNorm in eval mode'),
    ('attention_gelu', AttentionCell, init_attention, (4, 16), False,
     {13: {'MatMul', 'Softmax', 'Erf', 'Transpose'}, 17: {'MatMul', 'Softmax', 'Erf', 'Transpose'}},
     'gelu(Linear(softmax(Q K^T / sqrt(d)) V) + x), 4 tokens of width 16'),
    ('gated', GatedCell, init_gated, (16,), False,
     {13: {'Gemm', 'MatMul', 'Sigmoid', 'Tanh'}, 17: {'Gemm', 'MatMul', 'Sigmoid', 'Tanh'}},
     'GRU-like: r, u = sigmoid(W z + U x), n = tanh(Wn (r z) + Un x), z_next = (1 - u) n + u x, width 16'),
]


# ---- an ONNX interpreter in torch (the ops the zoo's exports use) -------------------------------
def attrs_of(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def to_torch(array):
    t = torch.from_numpy(np.array(array))
    return t.double() if t.is_floating_point() else t


def normalize(x, dims, eps):
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def channel(v, rank):
    """A per-channel [C] vector shaped to broadcast over NC..."""
    return v.reshape([1, -1] + [1] * (rank - 2))


def op_reshape(x, shape, allowzero=0):
    dims = [int(d) for d in shape]
    dims = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def op_conv(a, x, w, b=None):
    pads = a.get('pads', [0, 0, 0, 0])
    assert pads[:2] == pads[2:], 'asymmetric padding'
    assert a.get('auto_pad', b'NOTSET') in (b'NOTSET', 'NOTSET')
    return F.conv2d(x, w, b, stride=a.get('strides', 1), padding=pads[:2], dilation=a.get('dilations', 1), groups=a.get('group', 1))


def op_gemm(a, x, w, c=None):
    x = x.t() if a.get('transA', 0) else x
    w = w.t() if a.get('transB', 0) else w
    y = a.get('alpha', 1.0) * (x @ w)
    return y if c is None else y + a.get('beta', 1.0) * c


def op_layer_norm(a, x, scale, bias=None):
    axis = a.get('axis', -1) % x.dim()
    y = normalize(x, list(range(axis, x.dim())), a.get('epsilon', 1e-5)) * scale
    return y if bias is None else y + bias


def op_instance_norm(a, x, scale, bias):
    y = normalize(x, list(range(2, x.dim())), a.get('epsilon', 1e-5))
    return y * channel(scale, x.dim()) + channel(bias, x.dim())


def op_batch_norm(a, x, scale, bias, mean, var):
    assert not a.get('training_mode', 0)
    r = x.dim()
    return (x - channel(mean, r)) / torch.sqrt(channel(var, r) + a.get('epsilon', 1e-5)) * channel(scale, r) + channel(bias, r)


def op_reduce_mean(a, x, axes=None):
    axes = a.get('axes') if axes is None else [int(v) for v in axes]
    return x.mean(dim=list(axes), keepdim=bool(a.get('keepdims', 1)))


def op_softmax(a, x):
    return torch.softmax(x, dim=a.get('axis', -1))


OPS = {
    'Add': lambda a, x, y: x + y,
    'Sub': lambda a, x, y: x - y,
    'Mul': lambda a, x, y: x * y,
    'Div': lambda a, x, y: x / y,
    'Pow': lambda a, x, y: torch.pow(x, y),
    'Sqrt': lambda a, x: torch.sqrt(x),
    'Tanh': lambda a, x: torch.tanh(x),
    'Relu': lambda a, x: torch.relu(x),
    'Sigmoid': lambda a, x: torch.sigmoid(x),
    'Erf': lambda a, x: torch.erf(x),
    'Identity': lambda a, x: x,
    'MatMul': lambda a, x, y: x @ y,
    'Transpose': lambda a, x: x.permute(a['perm']),
    'Shape': lambda a, x: torch.tensor(list(x.shape), dtype=torch.int64),
    'Reshape': lambda a, x, s: op_reshape(x, s, a.get('allowzero', 0)),
    'Softmax': op_softmax,
    'ReduceMean': op_reduce_mean,
    'Gemm': op_gemm,
    'Conv': op_conv,
    'LayerNormalization': op_layer_norm,
    'InstanceNormalization': op_instance_norm,
    'BatchNormalization': op_batch_norm,
}


def run_graph(model, inits, z, x):
    """Evaluate the ONNX graph on float64 torch tensors; `inits` maps initializer names to tensors."""
    env = dict(inits)
    env['z'], env['x'] = z, x
    for node in model.graph.node:
        a = attrs_of(node)
        if node.op_type == 'Constant':
            (out,) = node.output
            env[out] = to_torch(numpy_helper.to_array(a['value']))
            continue
        if node.op_type not in OPS:
            raise NotImplementedError(f'the reference interpreter has no {node.op_type}')
        args = [env[n] if n else None for n in node.input]
        env[node.output[0]] = OPS[node.op_type](a, *args)
    return env[model.graph.output[0].name]


# ---- references ----------------------------------------------------------------------------------
def float_initializers(model):
    return {t.name: to_torch(numpy_helper.to_array(t)) for t in model.graph.initializer
            if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)}


def max_rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def fixed_point(f, z0, tol=1e-14, max_iter=2000):
    """Forward iteration from z0 until the relative residual is below tol, then two Newton steps."""
    z = z0
    with torch.no_grad():
        for it in range(1, max_iter + 1):
            fz = f(z)
            res = float((fz - z).norm() / fz.norm().clamp_min(1e-300))
            z = fz
            if res < tol:
                break
        else:
            raise RuntimeError(f'forward iteration did not converge in {max_iter} steps (residual {res:.2e})')
    for _ in range(2):
        J = jacobian(f, z)
        n = z.numel()
        step = torch.linalg.solve(torch.eye(n, dtype=z.dtype) - J, (f(z) - z).reshape(n).detach())
        z = (z + step.reshape(z.shape)).detach()
    return z, it, float(((f(z) - z).norm() / z.norm()).detach())


def jacobian(f, z):
    n = z.numel()
    return torch.autograd.functional.jacobian(lambda v: f(v.reshape(z.shape)).reshape(n), z.reshape(n)).detach()


def param_match(init, module):
    """The module parameter an initializer stores, and how: 'same', 'reshaped' or 'transposed'."""
    for pname, p in module.named_parameters():
        pv = p.detach().double()
        if tuple(init.shape) == tuple(pv.shape) and torch.equal(init, pv):
            return pname, 'same'
        if init.numel() == pv.numel() and torch.equal(init.reshape(-1), pv.reshape(-1)):
            return pname, 'reshaped'
        if init.dim() == 2 and tuple(init.shape) == tuple(pv.t().shape) and torch.equal(init, pv.t()):
            return pname, 'transposed'
    return None, None


def as_param_layout(grad, how, shape):
    return grad.t() if how == 'transposed' else grad.reshape(shape)


def entry(t):
    return {'shape': list(t.shape), 'data': [float(v) for v in t.detach().reshape(-1).tolist()]}


def make_fixture(cell, opset, dtype_name):
    name, cls, init, zshape, conv, must_have, description = cell
    torch.manual_seed(1000 + CELLS.index(cell))  # the same weights at both opsets
    module = cls()
    init(module)
    for sub in module.modules():
        if hasattr(sub, 'eps'):
            sub.eps = EPS32  # the file stores epsilon as a float32 attribute
    module.eval()
    dtype = DTYPES[dtype_name]
    module = module.to(dtype)
    shape = (BATCH,) + zshape
    z, x, g = (torch.randn(shape, dtype=torch.float64).to(dtype) for _ in range(3))

    buf = io.BytesIO()
    torch.onnx.export(module, (z, x), buf, input_names=['z', 'x'], output_names=['z_next'], opset_version=opset,
                      dynamic_axes={'z': {0: 'batch'}, 'x': {0: 'batch'}, 'z_next': {0: 'batch'}})
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model, full_check=True)
    ops = sorted({n.op_type for n in model.graph.node})
    missing = must_have[opset] - set(ops)
    assert not missing, f'{name} at opset {opset} lacks {missing}: {ops}'
    if name == 'resnet_groupnorm':
        check_group_norm_pattern(model)
    for v in list(model.graph.input) + list(model.graph.output):
        assert v.type.tensor_type.shape.dim[0].dim_param, f'{v.name} has no dynamic batch axis'
    assert [v.name for v in model.graph.input] == ['z', 'x'] and model.graph.output[0].name == 'z_next'

    # float64 reference: the graph on the file's initializers, at the file's inputs
    module64 = module.double()
    inits = {k: v.requires_grad_(True) for k, v in float_initializers(model).items()}
    z64, x64, g64 = (t.double().requires_grad_(True) for t in (z, x, g))
    out = run_graph(model, inits, z64, x64)
    ref_out = module64(z64, x64)
    err_graph = max_rel(out.detach(), ref_out.detach())
    # a float32 file rounds the constants the exporter writes (gelu's sqrt(2)) to float32
    agree = 1e-12 if dtype_name == 'float64' else 1e-7
    assert err_graph < agree, f'{name}: the interpreted graph differs from the module by {err_graph:.1e}'

    names = list(inits)
    grads = torch.autograd.grad(out, [z64, x64] + [inits[k] for k in names], g64)
    vjp = {'z': grads[0], 'x': grads[1], 'initializers': dict(zip(names, grads[2:]))}
    # the module's own autograd agrees, parameter by parameter in the module's layout
    mod_grads = torch.autograd.grad(ref_out, [z64, x64] + list(module64.parameters()), g64)
    mod_by_name = dict(zip([n for n, _ in module64.named_parameters()], mod_grads[2:]))
    err_vjp = max(max_rel(vjp['z'], mod_grads[0]), max_rel(vjp['x'], mod_grads[1]))
    matched = {}
    for k in names:
        pname, how = param_match(inits[k].detach(), module64)
        if pname is None:
            continue
        matched[k] = {'parameter': pname, 'layout': how}
        mine = as_param_layout(vjp['initializers'][k], how, mod_by_name[pname].shape)
        err_vjp = max(err_vjp, max_rel(mine, mod_by_name[pname]))
    assert err_vjp < 10 * agree, f'{name}: VJPs differ from the module autograd by {err_vjp:.1e}'
    params = [n for n, p in module64.named_parameters()]
    unmatched = set(params) - {m['parameter'] for m in matched.values()}
    assert not unmatched, f'{name}: no initializer holds {unmatched}'

    # fixed point from z = 0 and the implicit gradients of L = <g, z*>
    xd = x64.detach()
    cellf = lambda zz: run_graph(model, {k: v.detach() for k, v in inits.items()}, zz, xd)
    zstar, iters, res = fixed_point(cellf, torch.zeros(shape, dtype=torch.float64))
    J = jacobian(cellf, zstar)
    n = zstar.numel()
    rho = float(torch.linalg.eigvals(J).abs().max())
    norm2 = float(torch.linalg.matrix_norm(J, ord=2))
    assert rho < 0.7, f'{name}: spectral radius {rho:.2f} at z*: not contractive enough'
    w = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - J.t(), g64.detach().reshape(n)).reshape(shape)
    xs = x64.detach().clone().requires_grad_(True)
    zs = zstar.clone().requires_grad_(True)
    out_star = run_graph(model, inits, zs, xs)
    igrads = torch.autograd.grad(out_star, [xs] + [inits[k] for k in names], w)
    implicit = {'x': igrads[0], 'initializers': dict(zip(names, igrads[1:]))}
    err_fd = check_implicit_by_differences(model, inits, names, xd, g64.detach(), zstar, implicit)
    assert err_fd < 1e-6, f'{name}: implicit gradients differ from central differences by {err_fd:.1e}'

    tensors = {'f': out, 'vjp z': vjp['z'], 'vjp x': vjp['x'], 'fixed point': zstar, 'implicit x': implicit['x']}
    tensors.update({f'vjp {k}': v for k, v in vjp['initializers'].items()})
    tensors.update({f'implicit {k}': v for k, v in implicit['initializers'].items()})
    for what, t in tensors.items():
        # errors are measured relative to a tensor's largest value: it must not vanish
        assert float(t.abs().max()) > 1e-3, f'{name}: the reference {what} is (almost) zero: {float(t.abs().max()):.1e}'

    tol = TOLERANCE['float64'] if dtype_name == 'float64' else TOLERANCE['float32_conv' if conv else 'float32']
    fixture = f'{name}.opset{opset}.{dtype_name}'
    with open(os.path.join(OUT, fixture + '.onnx'), 'wb') as fh:
        fh.write(model.SerializeToString())
    ref = {
        'description': description,
        'cell': name,
        'opset': opset,
        'dtype': dtype_name,
        'conv': conv,
        'ops': ops,
        'torch_version': torch.__version__,
        'onnx_version': onnx.__version__,
        'tolerance': tol,
        'tolerance_rule': TOLERANCE_RULE,
        'initializer_parameters': matched,
        'checks': {
            'graph_vs_module': err_graph,
            'vjp_vs_module_autograd': err_vjp,
            'implicit_vs_central_differences': err_fd,
            'forward_iterations_to_1e-14': iters,
            'fixed_point_relative_residual': res,
            'jacobian_spectral_radius': rho,
            'jacobian_spectral_norm': norm2,
        },
        'z': entry(z64),
        'x': entry(x64),
        'g': entry(g64),
        'f': entry(out),
        'vjp': {'z': entry(vjp['z']), 'x': entry(vjp['x']),
                'initializers': {k: entry(v) for k, v in vjp['initializers'].items()}},
        'fixed_point': entry(zstar),
        'implicit': {'x': entry(implicit['x']),
                     'initializers': {k: entry(v) for k, v in implicit['initializers'].items()}},
    }
    with open(os.path.join(OUT, fixture + '.json'), 'w') as fh:
        json.dump(ref, fh, separators=(',', ':'))
        fh.write('\n')
    print(f'{fixture}: {len(ops)} op types, forward iterations {iters}, spectral radius {rho:.2f}, '
          f'checks {err_graph:.0e} / {err_vjp:.0e} / {err_fd:.0e}')


def check_group_norm_pattern(model):
    """Each GroupNorm is Reshape -> InstanceNormalization -> Reshape(., Shape(x)) -> Mul -> Add."""
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    norms = [n for n in model.graph.node if n.op_type == 'InstanceNormalization']
    assert len(norms) == 3, f'expected three InstanceNormalization nodes, found {len(norms)}'
    for n in norms:
        assert producer[n.input[0]].op_type == 'Reshape'
        (back,) = consumers[n.output[0]]
        assert back.op_type == 'Reshape' and producer[back.input[1]].op_type == 'Shape'
        (mul,) = consumers[back.output[0]]
        (add,) = consumers[mul.output[0]]
        assert (mul.op_type, add.op_type) == ('Mul', 'Add'), (mul.op_type, add.op_type)


def check_implicit_by_differences(model, inits, names, x, g, zstar, implicit, eps=1e-6):
    """<dL/dx, v> and <dL/dtheta, u> against central differences of L = <g, z*(x, theta)> along
    random directions; z* re-solved by Newton from the known fixed point."""
    gen = torch.Generator().manual_seed(7)
    base = {k: v.detach() for k, v in inits.items()}

    def loss(xv, th):
        f = lambda zz: run_graph(model, th, zz, xv)
        z = zstar
        for _ in range(3):
            J = jacobian(f, z)
            n = z.numel()
            z = z + torch.linalg.solve(torch.eye(n, dtype=z.dtype) - J, (f(z) - z).reshape(n).detach()).reshape(z.shape)
        return float((g * z).sum())

    v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    fd = (loss(x + eps * v, base) - loss(x - eps * v, base)) / (2 * eps)
    errs = [abs(fd - float((implicit['x'] * v).sum())) / max(abs(fd), 1e-3)]
    u = {k: torch.randn(base[k].shape, generator=gen, dtype=torch.float64) for k in names}
    plus = {k: base[k] + eps * u[k] for k in names}
    minus = {k: base[k] - eps * u[k] for k in names}
    fd = (loss(x, plus) - loss(x, minus)) / (2 * eps)
    errs.append(abs(fd - sum(float((implicit['initializers'][k] * u[k]).sum()) for k in names)) / max(abs(fd), 1e-3))
    return max(errs)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    only = sys.argv[1:]
    for cell in CELLS:
        if only and cell[0] not in only:
            continue
        for opset in OPSETS:
            for dtype_name in DTYPES:
                make_fixture(cell, opset, dtype_name)


if __name__ == '__main__':
    main()
