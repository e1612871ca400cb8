#!/usr/bin/python3
"""zoo_criteria — independent PyTorch (float64) implementations of every criterion of train/criteria/, written
from the formulas of spec A9/B3 (not from the C code), evaluated on small fixed batches.

Writes tests/fixtures/zoo/criteria.txt: one block per case, read by tests/zoo/test_zoo_criteria.c by name:
  case NAME
  args --loss X [--flag value ...]      (flags given to dml-train's flag table; defaults otherwise)
  shape B D C
  labels ...        (B ints, = class positions 0..C-1)
  tuples M a p n ...  (M triples, -1 = implicit set)
  emb ...           (B*D float32-representable values)
  param NAME N ...  (criterion parameter, float32-representable)
  loss VALUE
  grad_emb ...
  grad_param NAME N ...
  end
Regenerate: /usr/bin/python3 tests/reference/zoo_criteria.py   (torch 1.13, numpy)
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "zoo", "criteria.txt")
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


# ------------------------------------------------------------------------------------------- cases
def main():
    rng = np.random.RandomState(20261123)
    B, D, C = 10, 6, 5
    y = [0, 0, 1, 1, 1, 2, 2, 3, 3, 0]
    raw = f32(rng.randn(B, D) * 0.7)
    un = unit(rng.randn(B, D))
    T = np.array([[0, 1, 2], [1, 9, 5], [2, 3, 7], [3, 4, 0], [5, 6, 8], [7, 8, 1], [9, 0, 6], [4, 2, 9]])
    T_flip = np.array([[0, 0, 1], [2, 3, 7], [5, 5, 6], [8, 7, 4]])  # rho_distance-style flipped rows
    anchors = [i for i in range(B) if sum(1 for j in range(B) if y[j] == y[i]) > 1]
    T_npair = np.array([[a, [j for j in range(B) if j != a and y[j] == y[a]][0], -1] for a in anchors])
    T_lift = np.array([[a, -1, -1] for a in anchors])
    P = f32(rng.randn(C, D) / 8)
    W = f32(rng.uniform(-1 / math.sqrt(D), 1 / math.sqrt(D), (C, D)))
    K = 2
    Wst = f32(rng.uniform(-1 / math.sqrt(C * K), 1 / math.sqrt(C * K), (D, C * K)))
    # quadruplet: two triplets with different negatives => fourth samples are forced: q = [1, 0]
    T_quad = np.array([[0, 1, 2], [3, 4, 7]])
    _, nd = nir_layout(D, 2, 3, 5, [True, True])
    flow_dense = f32(rng.uniform(-0.4, 0.4, nd))
    _, ns = nir_layout(D, 2, 3, 5, [True, False])
    flow_start = f32(rng.uniform(-0.4, 0.4, ns))
    proj = 4
    advp = []
    for (a_, b_) in [(0, 1), (1, 0)]:
        d = D // 2
        advp += [(f"regressors.{a_}-{b_}.0.weight", f32(rng.uniform(-1, 1, (proj, d)) / math.sqrt(d))),
                 (f"regressors.{a_}-{b_}.0.bias", f32(rng.uniform(-1, 1, (proj,)) / math.sqrt(d))),
                 (f"regressors.{a_}-{b_}.2.weight", f32(rng.uniform(-1, 1, (d, proj)) / math.sqrt(proj))),
                 (f"regressors.{a_}-{b_}.2.bias", f32(rng.uniform(-1, 1, (d,)) / math.sqrt(proj)))]
    cases = [
        ("triplet", "--loss triplet", un, T, None, lambda x, p: triplet(x, y, T)),
        ("triplet_raw_margin", "--loss triplet --loss_triplet_margin 0.5", raw, T, None,
         lambda x, p: triplet(x, y, T, 0.5)),
        ("contrastive", "--loss contrastive", un, T, None, lambda x, p: contrastive(x, y, T)),
        ("contrastive_flip", "--loss contrastive --loss_contrastive_pos_margin 0.1 --loss_contrastive_neg_margin 1.2",
         un, T_flip, None, lambda x, p: contrastive(x, y, T_flip, 0.1, 1.2)),
        ("lifted", "--loss lifted --batch_mining lifted", raw, T_lift, None, lambda x, p: lifted(x, y, T_lift)),
        ("npair", "--loss npair --batch_mining npair", raw, T_npair, None, lambda x, p: npair(x, y, T_npair)),
        ("npair_bninception", "--loss npair --batch_mining npair --arch bninception_normalize", raw, T_npair, None,
         lambda x, p: npair(x, y, T_npair, scale=0.25)),
        ("angular", "--loss angular --batch_mining npair", raw, T_npair, None, lambda x, p: angular(x, y, T_npair)),
        ("angular_alpha36", "--loss angular --batch_mining npair --loss_angular_alpha 36", raw, T_npair, None,
         lambda x, p: angular(x, y, T_npair, alpha=36.0)),
        ("snr", "--loss snr --batch_mining random", raw, T, None, lambda x, p: snr(x, y, T)),
        ("snr_distance", "--loss snr --batch_mining distance", raw, T, None, lambda x, p: snr(x, y, T, lam=0.0)),
        ("quadruplet", "--loss quadruplet", raw, T_quad, None, lambda x, p: quadruplet(x, y, T_quad, [1, 0])),
        ("quadruplet_per_triplet", "--loss quadruplet --loss_quadruplet_per_triplet", raw, T_quad, None,
         lambda x, p: quadruplet(x, y, T_quad, [1, 0], per_triplet=True)),
        ("proxynca", "--loss proxynca", raw, None, ("proxies", P), lambda x, p: proxynca(x, y, p)),
        ("softmax", "--loss softmax", un, None, ("class_map", W), lambda x, p: softmax(x, y, p)),
        ("arcface", "--loss arcface", un, None, ("class_map", W), lambda x, p: arcface(x, y, p)),
        ("arcface_all_logits", "--loss arcface --loss_arcface_all_logits", un, None, ("class_map", W),
         lambda x, p: arcface(x, y, p, all_logits=True)),
        ("softtriplet", "--loss softtriplet", un, None, ("intra_class_weights", Wst),
         lambda x, p: softtriplet(x, y, p)),
        ("softtriplet_paper", "--loss softtriplet --loss_softtriplet_paper", un, None, ("intra_class_weights", Wst),
         lambda x, p: softtriplet(x, y, p, paper=True)),
        ("histogram", "--loss histogram", un, None, None, lambda x, p: histogram(x, y)),
        ("histogram_nbins11", "--loss histogram --loss_histogram_nbins 11", un, None, None,
         lambda x, p: histogram(x, y, 11)),
        ("multisimilarity", "--loss multisimilarity", un, None, None, lambda x, p: multisimilarity(x, y)),
        ("multisimilarity_nir", "--loss multisimilarity --loss_multisimilarity_variant nir "
         "--loss_multisimilarity_pos_thresh 0.4 --loss_multisimilarity_neg_thresh 0.3", un, None, None,
         lambda x, p: multisimilarity_nir(x, y, lp=0.4, ln=0.3)),
        ("oproxy_anchor", "--loss oproxy", un, None, ("proxies", P), lambda x, p: oproxy(x, y, p)),
        ("oproxy_nca", "--loss oproxy --loss_oproxy_mode nca", un, None, ("proxies", P),
         lambda x, p: oproxy(x, y, p, mode="nca")),
        ("adversarial_separation", "--loss adversarial_separation --diva_decorrnet_dim 4 "
         "--diva_decorrelations 0-1 1-0 --diva_rho_decorrelation 1.5 2", raw, None, advp,
         lambda x, p: advsep(x, p, [(0, 1), (1, 0)], [1.5, 2.0], 2)),
        ("nir", "--loss nir --loss_nir_nf_cblocks 2 --loss_nir_nf_fc_depth 3 --loss_nir_nf_fc_width 5 "
         "--loss_nir_w_align 0.3", un, None, [("proxies", P), ("flow", flow_dense)],
         lambda x, p: nir(x, y, p, 2, 3, 5, [True, True], w_align=0.3)),
        ("nir_start", "--loss nir --loss_nir_nf_cblocks 2 --loss_nir_nf_fc_depth 3 --loss_nir_nf_fc_width 5 "
         "--loss_nir_nf_cond_mode start --loss_nir_nf_clamp_alpha 1.5", un, None, [("proxies", P), ("flow", flow_start)],
         lambda x, p: nir(x, y, p, 2, 3, 5, [True, False], clamp=1.5)),
    ]
    # duplicates: class_random batches can hold the same image twice (identical embeddings)
    cases_dup = []
    udup = un.copy()
    udup[1] = udup[0]
    udup[4] = udup[3]
    rdup = raw.copy()
    rdup[1] = rdup[0]
    T_dup = np.array([[0, 1, 2], [3, 4, 7], [1, 0, 5], [2, 3, 8]])
    T_quad_dup = np.array([[0, 1, 2], [3, 4, 7]])
    cases += [
        ("dup_triplet", "--loss triplet", udup, T_dup, None, lambda x, p: triplet(x, y, T_dup)),
        ("dup_contrastive", "--loss contrastive", udup, T_dup, None, lambda x, p: contrastive(x, y, T_dup)),
        ("dup_lifted", "--loss lifted --batch_mining lifted", rdup, T_lift, None, lambda x, p: lifted(x, y, T_lift)),
        ("dup_quadruplet", "--loss quadruplet", rdup, T_quad_dup, None,
         lambda x, p: quadruplet(x, y, T_quad_dup, [1, 0])),
        ("dup_histogram", "--loss histogram --loss_histogram_nbins 21", udup, None, None,
         lambda x, p: histogram(x, y, 21)),
        ("dup_multisimilarity", "--loss multisimilarity", udup, None, None, lambda x, p: multisimilarity(x, y)),
        ("dup_npair", "--loss npair --batch_mining npair", rdup, T_npair, None, lambda x, p: npair(x, y, T_npair)),
    ]
    lines = [f"# zoo criteria fixtures v{VERSION}, torch {torch.__version__}; regenerate with "
             f"/usr/bin/python3 tests/reference/zoo_criteria.py"]
    fmt = lambda v: " ".join(repr(float(a)) for a in np.ravel(v))
    for name, args, emb, tup, par, fn in cases:
        x = torch.tensor(emb, requires_grad=True)
        plist = par if isinstance(par, list) else ([par] if par else [])
        pts = [torch.tensor(v, requires_grad=True) for _, v in plist]
        L = fn(x, pts if isinstance(par, list) else (pts[0] if pts else None))
        L.backward()
        lines.append(f"case {name}")
        lines.append(f"args {args} --embed_dim {D}")
        lines.append(f"shape {B} {D} {C}")
        lines.append("labels " + " ".join(str(v) for v in y))
        if tup is not None:
            lines.append(f"tuples {len(tup)} " + " ".join(str(int(v)) for v in np.ravel(tup)))
        else:
            lines.append("tuples 0")
        lines.append("emb " + fmt(emb))
        for nm, v in plist:
            lines.append(f"param {nm} {v.size} " + fmt(v))
        lines.append(f"loss {float(L)!r}")
        lines.append("grad_emb " + fmt(x.grad.numpy()))
        for (nm, v), pt in zip(plist, pts):
            lines.append(f"grad_param {nm} {v.size} " + fmt(pt.grad.numpy()))
        lines.append("end")
        print(f"{name:24s} loss {float(L):.6f}", file=sys.stderr)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
