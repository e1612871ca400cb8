#!/usr/bin/python3
"""torch_formulas — PyTorch re-typings of the criteria formulas of spec A9/B3, kept only as bench_torch's point
of comparison (they were the test fixtures' source until the fixtures came from the reference code itself:
tests/reference/reference_criteria.py). Not a reference (no QUIRK H1 in histogram, P1 per-pair lifted only).

"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
VERSION = 1


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def unit(a):
    a = np.asarray(a, dtype=np.float64)
    return f32(a / np.linalg.norm(a, axis=1, keepdims=True))


def pdist_eps(a, b, eps=1e-6):
    return torch.sqrt(((a - b + eps) ** 2).sum(-1))


# ------------------------------------------------------------------------------------------- criteria
def triplet(x, y, T, m=0.2):
    a, p, n = x[T[:, 0]], x[T[:, 1]], x[T[:, 2]]
    return F.relu(((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + m).mean()


def contrastive(x, y, T, mp=0.0, mn=1.0):
    a, p, n = x[T[:, 0]], x[T[:, 1]], x[T[:, 2]]
    return F.relu(pdist_eps(a, p) - mp).mean() + F.relu(mn - pdist_eps(a, n)).mean()


def lifted(x, y, T, m=1.0, l2=0.005):
    ls = []
    for a in T[:, 0]:
        P = [j for j in range(len(y)) if j != a and y[j] == y[a]]
        N = [j for j in range(len(y)) if y[j] != y[a]]
        dp = pdist_eps(x[a][None, :], x[P])
        dn = pdist_eps(x[a][None, :], x[N])
        ls.append(F.relu(torch.logsumexp(dp, 0) + torch.logsumexp(m - dn, 0)))
    return torch.stack(ls).mean() + l2 * x.norm(dim=1).mean()


def npair(x, y, T, l2=0.005, scale=1.0):
    x = x * scale
    ls = []
    for a, p, _ in T:
        N = [j for j in range(len(y)) if y[j] != y[a]]
        inner = (x[N] - x[p][None, :]) @ x[a]
        ls.append(torch.log(1 + torch.exp(inner).sum()))
    return torch.stack(ls).mean() + l2 * x.norm(dim=1).mean()


def angular(x, y, T, alpha=45.0, w=2.0, l2=0.005):
    t = math.tan(alpha / 180 * math.pi) ** 2
    xn = F.normalize(x, dim=1)
    Lnp, Lang = [], []
    for a, p, _ in T:
        N = [j for j in range(len(y)) if y[j] != y[a]]
        inner = torch.clamp((x[N] - x[p][None, :]) @ x[a], -50, 50)
        Lnp.append(torch.log(1 + torch.exp(inner).sum()))
        f = 4 * t * (xn[N] @ (xn[a] + xn[p])) - 2 * (1 + t) * (xn[a] @ xn[p])
        Lang.append(torch.log(1 + torch.exp(f).sum()))
    return torch.stack(Lnp).mean() + w * torch.stack(Lang).mean() + l2 * x.norm(dim=1).mean()


def snr(x, y, T, m=0.2, lam=0.005):
    a, p, n = x[T[:, 0]], x[T[:, 1]], x[T[:, 2]]
    va = torch.var(a, dim=1, unbiased=True)
    h = F.relu(torch.var(a - p, dim=1) / va - torch.var(a - n, dim=1) / va + m)
    act = (h > 0).sum()
    L = h.sum() / act
    return L + lam * torch.abs(a.sum(1)).mean()


def quadruplet(x, y, T, q, a1=0.2, a2=0.2, per_triplet=False):
    a, p, n = x[T[:, 0]], x[T[:, 1]], x[T[:, 2]]
    dap = (a - p).norm(dim=1)
    L1 = F.relu(dap - (a - n).norm(dim=1) + a1).mean()
    xq = x[q]
    if per_triplet:
        L2 = F.relu(dap - (n - xq).norm(dim=1) + a2).mean()
    else:
        L2 = F.relu(dap[:, None] - (n[:, None, :] - xq[None, :, :]).norm(dim=2) + a2).mean()
    return L1 + L2


def proxynca(x, y, P):
    xt = 3 * F.normalize(x, dim=1)
    pt = 3 * F.normalize(P, dim=1)
    d = ((xt[:, None, :] - pt[None, :, :]) ** 2).sum(2)
    C = P.shape[0]
    ls = []
    for i in range(len(y)):
        neg = [c for c in range(C) if c != y[i]]
        ls.append(d[i, y[i]] + torch.logsumexp(-d[i, neg], 0))
    return torch.stack(ls).mean()


def softmax(x, y, W, T=0.05):
    return F.cross_entropy(x @ F.normalize(W, dim=1).t() / T, torch.tensor(y))


def arcface(x, y, W, m=0.5, s=16.0, all_logits=False):
    c = torch.clamp(x @ F.normalize(W, dim=1).t(), 1e-10, 1 - 1e-10)
    yt = torch.tensor(y)
    if all_logits:
        return F.cross_entropy(s * c, yt)
    cy = c[torch.arange(len(y)), yt]
    target = torch.cos(torch.acos(cy) + m)
    onehot = F.one_hot(yt, c.shape[1]).bool()
    logits = s * torch.where(onehot, target[:, None].expand_as(c), c)
    return F.cross_entropy(logits, yt)


def softtriplet(x, y, W, K=2, delta=0.01, gamma=0.1, lam=8.0, tau=0.2, paper=False):
    D, CK = W.shape
    C = CK // K
    Wn = F.normalize(W, dim=0 if paper else 1)
    S = (x @ Wn).view(len(y), C, K)
    wts = F.softmax(S / gamma, dim=2) if paper else F.softmax(gamma * S, dim=1)
    s = (wts * S).sum(2)
    yt = torch.tensor(y)
    L = F.cross_entropy(lam * (s - delta * F.one_hot(yt, C)), yt)
    sim = Wn.t() @ Wn
    mask = torch.zeros(CK, CK, dtype=torch.bool)
    for c in range(C):
        for k in range(K):
            mask[c * K + k, c * K + k + 1:(c + 1) * K] = True
    reg = torch.sqrt(2.00001 - 2 * sim[mask]).sum() / (C * K * (K - 1))
    return L + tau * reg


def histogram(x, y, R=65):
    delta = 2.0 / (R - 1)
    t = torch.tensor([-1 + r * delta for r in range(R)])
    S = x @ x.t()
    iu = torch.triu_indices(len(y), len(y), 1)
    s = S[iu[0], iu[1]]
    same = torch.tensor([y[i] == y[j] for i, j in zip(iu[0].tolist(), iu[1].tolist())])

    def hist(v):
        # linear interpolation weights of every value into every bin (triangular kernel of width delta)
        w = F.relu(1 - torch.abs(v[:, None] - t[None, :]) / delta)
        return w.sum(0)

    hp = hist(s[same]) / same.sum()
    hn = hist(s[~same]) / (~same).sum()
    return (hn * torch.cumsum(hp, 0)).sum()


def multisimilarity(x, y, alpha=2.0, beta=40.0, eps=0.1, lam=0.5):
    S = x @ x.t()
    ls = []
    for i in range(len(y)):
        P = [j for j in range(len(y)) if j != i and y[j] == y[i]]
        N = [j for j in range(len(y)) if y[j] != y[i]]
        sp, sn = S[i, P], S[i, N]
        kp = sp[sp - eps < sn.max()]
        kn = sn[sn + eps > sp.min()]
        if len(kp) == 0 or len(kn) == 0:
            continue
        ls.append(torch.log(1 + torch.exp(-alpha * (kp - lam)).sum()) / alpha +
                  torch.log(1 + torch.exp(beta * (kn - lam)).sum()) / beta)
    return torch.stack(ls).mean()


def multisimilarity_nir(x, y, alpha=2.0, beta=40.0, eps=0.1, lp=0.5, ln=0.5):
    S = x @ x.t()
    yt = torch.tensor(y)
    same = yt[:, None] == yt[None, :]
    posm = same & ~torch.eye(len(y), dtype=torch.bool)
    negm = ~same
    big = 1e9
    maxneg = torch.where(negm, S, torch.full_like(S, -big)).max(0).values  # per column j
    minpos = torch.where(posm, S, torch.full_like(S, big)).min(0).values
    keep_p = posm & (S - eps < maxneg[None, :])
    keep_n = negm & (S + eps > minpos[None, :])
    pos = torch.log(1 + torch.where(keep_p, torch.exp(-alpha * (S - lp)), torch.zeros_like(S)).sum(0))
    neg = torch.log(1 + torch.where(keep_n, torch.exp(beta * (S - ln)), torch.zeros_like(S)).sum(0))
    return F.softplus(pos.mean()) / alpha + F.softplus(neg.mean()) / beta


def oproxy(x, y, P, mode="anchor", pa=32.0, na=32.0, pd=0.1, nd=-0.1):
    s = F.normalize(x, dim=1) @ F.normalize(P, dim=1).t()
    B, C = s.shape
    yt = torch.tensor(y)
    spos = s[torch.arange(B), yt]
    if mode == "anchor":
        pos = torch.stack([torch.log(1 + torch.exp(-pa * (spos[yt == yt[j]] - pd)).sum()) for j in range(B)])
        neg = torch.stack([torch.log(1 + torch.exp(na * (s[yt != c, c] - nd)).sum()) for c in range(C)])
    else:
        cnt = torch.tensor([(yt == yt[i]).sum() for i in range(B)], dtype=torch.float64)
        pos = torch.log(1 + cnt * torch.exp(-pa * (spos - pd)))
        neg = torch.stack([torch.log(1 + torch.exp(na * (s[i, [c for c in range(C) if c != y[i]]] - nd)).sum())
                           for i in range(B)])
    return pos.mean() + neg.mean()


class GradRev(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -g


def advsep(x, params, pairs, weights, nchunks):
    d = x.shape[1] // nchunks
    xr = GradRev.apply(x)
    ch = [F.normalize(xr[:, k * d:(k + 1) * d], dim=-1) for k in range(nchunks)]
    L = 0
    for q, ((s_, t_), w) in enumerate(zip(pairs, weights)):
        W1, b1, W2, b2 = params[4 * q:4 * q + 4]
        r = F.linear(F.relu(F.linear(ch[s_], W1, b1)), W2, b2)
        L = L + -w * torch.mean(torch.mean((ch[t_] * F.normalize(r, dim=-1)) ** 2, dim=-1))
    return L


def nir_layout(D, K, depth, W, cond):
    """(in, out, offset) of every Linear of the flat "flow" vector: block by block, net2 then net1."""
    l1, l2 = D // 2, D - D // 2
    lay, off = [], 0
    for k in range(K):
        nc = D if cond[k] else 0
        for net in range(2):
            fin = (l2 if net == 0 else l1) + nc
            fout = 2 * (l1 if net == 0 else l2)
            for l in range(depth):
                i = fin if l == 0 else W
                o = fout if l == depth - 1 else W
                lay.append((i, o, off))
                off += i * o + o
    return lay, off


def nir(x, y, params, K, depth, W, cond, clamp=2.0, w_align=0.01):
    P, flow = params
    B, D = x.shape
    l1 = D // 2
    lay, _ = nir_layout(D, K, depth, W, cond)

    def subnet(h, L0):
        for l in range(depth):
            i, o, off = lay[L0 + l]
            Wm = flow[off:off + i * o].view(o, i)
            b = flow[off + i * o:off + i * o + o]
            if l > 0:
                h = F.relu(h)
            h = F.linear(h, Wm, b)
        return h

    c = F.normalize(P, dim=1)[torch.tensor(y)]
    z, logdet = x, torch.zeros(B)
    for k in range(K):
        np.random.seed(k)
        perm = np.random.permutation(D)
        z = z[:, torch.tensor(perm)]
        x1, x2 = z[:, :l1], z[:, l1:]
        cc = [c] if cond[k] else []
        a2 = subnet(torch.cat([x2] + cc, 1), k * 2 * depth)
        s2 = clamp * 0.636 * torch.atan(a2[:, :l1])
        y1 = torch.exp(s2) * x1 + a2[:, l1:]
        a1 = subnet(torch.cat([y1] + cc, 1), k * 2 * depth + depth)
        s1 = clamp * 0.636 * torch.atan(a1[:, :D - l1])
        y2 = torch.exp(s1) * x2 + a1[:, D - l1:]
        logdet = logdet + s2.sum(1) + s1.sum(1)
        z = torch.cat([y1, y2], 1)
    ell = 0.5 * (z ** 2).sum(1) - logdet
    return torch.exp(ell).mean() + w_align * oproxy(x, y, P)
