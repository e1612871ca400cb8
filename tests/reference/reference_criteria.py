#!/usr/bin/python3
"""reference_criteria — criterion fixtures produced by running the reference repositories' own code.

    /usr/bin/python3 tests/reference/reference_criteria.py --revisit DIR --nir DIR --freia DIR [--out FILE]

DIR are exported checkouts (no code of theirs is committed here):
  --revisit  Confusezius/Revisiting_Deep_Metric_Learning_PyTorch at efddbf2
             git -C <mirror> archive efddbf2 | tar -x -C /tmp/revisit
  --nir      ExplainableML/NonIsotropicProxyDML at 95981ab
  --freia    vislearn/FrEIA (the NIR flow's library; its FrEIA/ package directory's parent)
Imports the reference's `parameters`, `batchminer` and `criteria` modules (Revisit and NIR in turn, each in
its own import scope), builds every criterion from the reference's own argparse defaults plus the case's flags,
sets its parameters to fixed values, mines tuples with the reference's own miners (seeded), and records the loss
and the gradients w.r.t. the embeddings and every criterion parameter in float64 and float32. A case is only
written when its batch is away from branch points (relu kinks, mining thresholds, histogram bin edges): the
harness redraws the batch (next seed) until every recorded relu input, mining comparison and bin coordinate is
at least KINK_GAP away from its threshold (dup_* cases excepted: they sit on the zero-distance kink on purpose).

Where the reference crashes or has no switch for one of our documented options, the case applies the smallest
patch to the reference's source at import time (the `patches` column; each one is named and explained in
PATCHES below). Nothing of theirs is written to disk.

Output (default tests/fixtures/zoo/criteria.txt), read by tests/zoo/test_zoo_criteria.c by case name:
  case NAME
  source FILE [patch ...]          (which reference file computed it)
  args --loss X [--flag value ...] (dml-train flags: the reference's flags plus ours for options)
  shape B D C
  labels ...                       (B ints = class positions 0..C-1)
  tuples M a p n ...               (M triples, -1 = the implicit sets of the npair / lifted conventions)
  fourth M q ...                   (quadruplet only: the fourth sample the reference drew for each triplet)
  emb ...                          (B*D float32-representable values)
  param NAME N ...
  loss V / grad_emb ... / grad_param NAME N ...        float64 run of the reference code
  loss32 V / grad_emb32 ... / grad_param32 NAME N ...  float32 run of the reference code
  end
and `h1 R bad_a... ; bad_b...` lines: for every R in 2..130 the bins r whose "lower neighbour" (indsa) and own
(indsb) float64 equality tests of histogram.py fail for the exact bin value (QUIRK H1), as numpy evaluates them.
"""
import argparse
import contextlib
import importlib
import itertools
import math
import os
import random
import sys
import types

import numpy as np
import torch

VERSION = 2
KINK_GAP = 2e-3
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "fixtures", "zoo", "criteria.txt")
OWN = ("parameters", "batchminer", "criteria", "datasampler", "metrics", "FrEIA")

# ------------------------------------------------------------------------------------------------ patches
# name -> (module, [(old text, new text)], why). Applied to the module's source before it is executed.
PATCHES = {
    "pr14": ("criteria.margin", [("self.nu * beta_regularisation_loss", "self.nu * beta_regularization_loss")],
             "BUG C1: typo'd variable name crashes with --loss_margin_nu != 0; the one-word fix of PR #14"),
    "per_pair_count": ("criteria.margin", [("torch.sum((pos_loss>0.)+(neg_loss>0.))",
                                            "torch.sum((pos_loss>0.).int()+(neg_loss>0.).int())")],
                       "PyTorch < 1.2 semantics (uint8 comparisons add): #pos + #neg; our --loss_margin_per_pair_count"),
    "c3_lr": ("criteria.softtriplet", [("opt.lr*opt.loss_softtriplet_lr", "opt.lr*opt.loss_softtriplet_lrmulti")],
              "BUG C3: the lr line reads a flag that does not exist (crash at construction)"),
    "softtriplet_paper": ("criteria.softtriplet", [
        ("torch.nn.functional.normalize(self.intra_class_centroids, dim=1)",
         "torch.nn.functional.normalize(self.intra_class_centroids, dim=0)"),
        ("torch.nn.Softmax(dim=1)(self.gamma*similarities_to_centroids)",
         "torch.nn.Softmax(dim=2)(similarities_to_centroids/self.gamma)")],
        "our --loss_softtriplet_paper: centroid columns normalised, softmax over each class's K centroids with 1/gamma"),
    "arcface_all_logits": ("criteria.arcface", [
        ("(cos_similarity + pick * (marginal_target_logit-original_target_logit).unsqueeze(1))",
         "(cos_similarity + (marginal_target_logit-original_target_logit).unsqueeze(1))")],
        "the line as it was before commit 703d189 (ICML-era runs); our --loss_arcface_all_logits"),
    "quadruplet_per_triplet": ("criteria.quadruplet", [
        ("self.quadruplet_distance(batch[anchors,:],batch[positives,:],batch[negatives,:],batch[fourth_negatives,:])",
         "self.quadruplet_distance(batch[anchors[:,0],:],batch[positives[:,0],:],batch[negatives[:,0],:],"
         "batch[fourth_negatives,:])")],
        "our --loss_quadruplet_per_triplet (the paper's one fourth sample per triplet instead of the M x M broadcast)"),
    "p1_per_pair": ("criteria.lifted", [("import torch, torch.nn as nn, torch.nn.functional as F",
                                         "import torch, torch.nn.functional as F\n"
                                         "class nn:\n"
                                         "    @staticmethod\n"
                                         "    def PairwiseDistance(p=2):\n"
                                         "        return lambda a, b: torch.norm(a - b + 1e-6, p=2, dim=1)\n")],
                    "QUIRK P1: PairwiseDistance over the embedding axis (PyTorch <= 1.7, the ICML runs); newer "
                    "PyTorch reduces the broadcast (1, D, n) pair over the set axis"),
    "angular_index": ("criteria.angular", [("batch[anchors], batch[positives], batch[negatives]",
                                            "batch[anchors], batch[positives], batch[torch.as_tensor(np.stack(negatives))]")],
                      "PyTorch 1.13 reads a list of index arrays as a multi-dimensional index; the code means one "
                      "(A, N) index array (well defined only when every anchor has the same number of negatives)"),
    "no_debugger": ("batchminer.parametric", [("from IPython import embed; embed()", "pass")],
                    "the semihards mode opens an interactive debugger (leftover); the lines after it are kept"),
    "gradrev": ("criteria.adversarial_separation", [("def grad_reverse(x):", "def grad_reverse_legacy(x):"),
                                                    ("class GradRev(torch.autograd.Function):",
                                                     "class GradRevNew(torch.autograd.Function):\n"
                                                     "    @staticmethod\n"
                                                     "    def forward(ctx, x):\n"
                                                     "        return x.view_as(x)\n"
                                                     "    @staticmethod\n"
                                                     "    def backward(ctx, g):\n"
                                                     "        return g * -1.\n"
                                                     "def grad_reverse(x):\n"
                                                     "    return GradRevNew.apply(x)\n"
                                                     "class GradRev(torch.autograd.Function):")],
                "legacy (non-static) autograd.Function is refused by PyTorch >= 1.5; same identity/negation as static"),
}


def load_repo(path, freia=None):
    """Import the reference's modules from `path` in a fresh scope; returns {name: module}."""
    for k in list(sys.modules):
        if k.split(".")[0] in OWN:
            del sys.modules[k]
    if "tqdm" not in sys.modules:  # datasampler imports it for progress bars only
        t = types.ModuleType("tqdm")
        t.tqdm = lambda x=None, *a, **k: x
        sys.modules["tqdm"] = t
    paths = [path] + ([freia] if freia else [])
    sys.path[:0] = paths
    try:
        mods = {n: importlib.import_module(n) for n in ("parameters", "batchminer", "criteria", "datasampler")}
        mods["metrics"] = importlib.import_module("metrics")
        for f in sorted(os.listdir(os.path.join(path, "criteria"))):
            if f.endswith(".py") and not f.startswith("__") and f != "s2sd.py":
                importlib.import_module("criteria." + f[:-3])
    finally:
        del sys.path[:len(paths)]
    mods["root"] = path
    return mods


def patched_module(repo, modname, patches):
    """Module `modname` of `repo`, re-executed from its source with the named patches applied."""
    fname = os.path.join(repo["root"], *modname.split(".")) + ".py"
    with open(fname) as f:
        src = f.read()
    for p in patches:
        pm, subs, _ = PATCHES[p]
        assert pm == modname, (p, modname)
        for old, new in subs:
            assert src.count(old) == 1, f"patch {p}: text not found once in {fname}"
            src = src.replace(old, new)
    m = types.ModuleType(modname + "_patched")
    m.__file__ = fname
    sys.path.insert(0, repo["root"])
    try:
        exec(compile(src, fname, "exec"), m.__dict__)
    finally:
        sys.path.pop(0)
    return m


def make_opt(repo, args, nir=False):
    P = repo["parameters"]
    parser = argparse.ArgumentParser()
    parser = P.basic_training_parameters(parser)
    parser = P.batch_creation_parameters(parser)
    parser = P.batchmining_specific_parameters(parser)
    parser = P.loss_specific_parameters(parser)
    parser = P.wandb_parameters(parser)
    if nir:
        parser = P.nir_parameters(parser)
    opt, rest = parser.parse_known_args(args)
    return opt, rest


class FixedMiner:
    """Stands in for the reference miner: returns the tuples mined beforehand (the miner's own output format)."""

    def __init__(self, name, out):
        self.name, self.out = name, out

    def __call__(self, batch, labels, **kw):
        return self.out


# ------------------------------------------------------------------------------------------------ kink guard
class Guard:
    """Records how close the float64 run came to a branch point: relu inputs (torch.nn.functional.relu) and the
    extra thresholds a case reports."""

    def __init__(self):
        self.gap = math.inf

    def note(self, v):
        v = np.abs(np.asarray(v, dtype=np.float64)).ravel()
        if v.size:
            self.gap = min(self.gap, float(v.min()))


@contextlib.contextmanager
def relu_watch(guard):
    F = torch.nn.functional
    orig = F.relu

    def relu(x, *a, **k):
        guard.note(x.detach().numpy())
        return orig(x, *a, **k)

    F.relu = relu
    torch.relu_watch = True
    try:
        yield
    finally:
        F.relu = orig


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def unit(a):
    a = np.asarray(a, dtype=np.float64)
    return f32(a / np.linalg.norm(a, axis=1, keepdims=True))


# ------------------------------------------------------------------------------------------------ case
class Case:
    def __init__(self, name, repo, module, args, ours="", patches=(), emb="unit", labels=None, miner=None,
                 miner_name=None, params=None, nir=False, dup=False, extra_guard=None, C=6, B=12, D=8, seed=0,
                 feature_chunks=0, setattrs=None):
        self.__dict__.update(locals())
        del self.__dict__["self"]


def build_labels(kind, B):
    if kind == "balanced":
        return [i // 2 for i in range(B)]
    return [0, 0, 1, 1, 1, 2, 2, 3, 3, 0, 4, 4][:B]


def mine(repo, case, opt, x64, y):
    """Run the reference miner (seeded) on the float64 batch; returns (miner output, our tuple rows)."""
    if case.miner is None:
        return None, []
    if isinstance(case.miner, list):  # explicit triplets
        return [list(t) for t in case.miner], [tuple(t) for t in case.miner]
    np.random.seed(1000 + case.seed)
    random.seed(1000 + case.seed)
    m = repo["batchminer"].select(case.miner, opt)
    yt = torch.tensor(y)
    out = m(x64.detach(), yt)
    B = len(y)
    if case.miner == "npair":
        a, p, negs = out
        for ai, ni in zip(a, negs):  # our (a, p, -1) convention: negatives = every other label
            assert sorted(ni.tolist()) == [j for j in range(B) if y[j] != y[ai]]
        return out, [(int(ai), int(pi), -1) for ai, pi in zip(a, p)]
    if case.miner == "lifted":
        a, pos, negs = out
        for ai, pi, ni in zip(a, pos, negs):
            assert sorted(pi.tolist()) == [j for j in range(B) if j != ai and y[j] == y[ai]]
            assert sorted(ni.tolist()) == [j for j in range(B) if y[j] != y[ai]]
        return out, [(int(ai), -1, -1) for ai in a]
    return out, [tuple(int(v) for v in t) for t in out]


def run_case(repo, case, emb, y, params, dtype, guard=None):
    """One evaluation of the reference criterion; returns (loss, grad_emb, {param: grad}, tuples, fourth)."""
    opt, rest = make_opt(repo, case.args.split() + ["--embed_dim", str(case.D)], nir=case.nir)
    assert not rest, f"{case.name}: the reference does not know {rest}"
    opt.n_classes, opt.device = case.C, "cpu"
    for k, v in (case.setattrs or {}).items():
        setattr(opt, k, v)
    if case.feature_chunks:
        opt.embed_dim = case.D // case.feature_chunks
    x64 = torch.tensor(emb, dtype=torch.float64)
    mined, rows = mine(repo, case, opt, x64, y)
    if case.patches:
        lib = patched_module(repo, case.module, case.patches)
    else:
        lib = sys.modules[case.module]
    kw = {"opt": opt}
    if lib.REQUIRES_BATCHMINER:
        kw["batchminer"] = FixedMiner(case.miner_name or case.miner or "distance", mined)
    torch.manual_seed(7)
    with contextlib.redirect_stdout(sys.stderr if os.environ.get("VERBOSE") else open(os.devnull, "w")):
        crit = lib.Criterion(**kw)
    crit = crit.to(dtype)
    named = dict(crit.named_parameters())
    pnames = [p for p, _ in params]
    with torch.no_grad():
        for pn, v in params:
            if pn == "flow":
                for t, (a, b) in zip(flow_tensors(crit), flow_slices(crit)):
                    t.copy_(torch.tensor(v[a:b].reshape(t.shape)))
            else:
                named[pn].copy_(torch.tensor(v).reshape(named[pn].shape))
    x = torch.tensor(emb, dtype=dtype, requires_grad=True)
    yt = torch.tensor(y)
    fourth = []
    np.random.seed(2000 + case.seed)
    orig_choice = np.random.choice

    def choice(*a, **k):
        r = orig_choice(*a, **k)
        fourth.append(int(r))
        return r

    np.random.choice = choice
    try:
        ctx = relu_watch(guard) if guard else contextlib.nullcontext()
        with ctx:
            if case.feature_chunks:
                d = case.D // case.feature_chunks
                L = crit({str(k): x[:, k * d:(k + 1) * d] for k in range(case.feature_chunks)})
            elif case.nir:
                L = crit(x, yt, avg_batch_features=None)
            else:
                L = crit(x, yt)
    finally:
        np.random.choice = orig_choice
    L.backward()
    grads = {}
    for pn in pnames:
        if pn == "flow":
            grads[pn] = np.concatenate([t.grad.detach().double().numpy().ravel() for t in flow_tensors(crit)])
        else:
            grads[pn] = named[pn].grad.detach().double().numpy().ravel()
    if guard is not None and case.extra_guard:
        case.extra_guard(guard, x.detach().double(), y, rows, opt)
    return float(L), x.grad.detach().double().numpy(), grads, rows, fourth


def glow_blocks(crit):
    import FrEIA.modules as Fm
    return [m for m in crit.normflow.normflow.module_list if isinstance(m, Fm.GLOWCouplingBlock)]


def flow_tensors(crit):
    """The flow's weights in our flat layout: block by block, subnet2 then subnet1, Linear by Linear, weight then bias."""
    out = []
    for blk in glow_blocks(crit):
        for net in (blk.subnet2, blk.subnet1):
            for lin in net:
                if isinstance(lin, torch.nn.Linear):
                    out += [lin.weight, lin.bias]
    return out


def flow_slices(crit):
    off, sl = 0, []
    for t in flow_tensors(crit):
        sl.append((off, off + t.numel()))
        off += t.numel()
    return sl


def flow_init(repo, case):
    """The flow's own PyTorch initialisation (seeded), flattened."""
    opt, _ = make_opt(repo, case.args.split() + ["--embed_dim", str(case.D)], nir=True)
    opt.n_classes, opt.device = case.C, "cpu"
    lib = sys.modules[case.module]
    torch.manual_seed(11)
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        crit = lib.Criterion(opt)
    return f32(np.concatenate([t.detach().numpy().ravel() for t in flow_tensors(crit)]))


# ------------------------------------------------------------------------------------------------ guards
def guard_histogram(g, x, y, rows, opt):
    R = opt.loss_histogram_nbins
    S = (x @ x.t()).numpy()
    iu = np.triu_indices(len(y), 1)
    v = (S[iu] + 1) / (2 / (R - 1))
    g.note(v - np.round(v))


def guard_ms(g, x, y, rows, opt):
    S = (x @ x.t()).numpy()
    eps = opt.loss_multisimilarity_margin
    y = np.array(y)
    for i in range(len(y)):
        pos = (y == y[i]) & (np.arange(len(y)) != i)
        neg = y != y[i]
        if pos.any() and neg.any():
            g.note(S[i, neg] + eps - S[i, pos].min())
            g.note(S[i, pos] - eps - S[i, neg].max())


def guard_ms_nir(g, x, y, rows, opt):
    S = (x @ x.t()).numpy()
    eps = opt.loss_multisimilarity_margin
    y = np.array(y)
    same = y[:, None] == y[None, :]
    pos = same & ~np.eye(len(y), dtype=bool)
    neg = ~same
    for j in range(len(y)):
        if pos[:, j].any() and neg[:, j].any():
            g.note(S[neg[:, j], j] + eps - S[pos[:, j], j].min())
            g.note(S[pos[:, j], j] - eps - S[neg[:, j], j].max())


def guard_snr(g, x, y, rows, opt):
    pass  # the hinge is a relu (watched)


def guard_arcface(g, x, y, rows, opt):
    pass


# ------------------------------------------------------------------------------------------------ cases
def cases(rv, nr):
    C, K = 6, 2
    R = "criteria"
    out = []

    def add(*a, **k):
        out.append(Case(*a, **k))

    # margin: the Revisit default (OR pair count), per-class beta, constant beta, nu (PR #14), per-pair option
    add("margin", rv, f"{R}.margin", "--loss margin --batch_mining distance", miner="distance",
        params=[("beta", "beta")])
    add("margin_beta06", rv, f"{R}.margin", "--loss margin --batch_mining distance --loss_margin_beta 0.6",
        miner="distance", params=[("beta", "beta06")], seed=1)
    add("margin_beta_constant", rv, f"{R}.margin", "--loss margin --loss_margin_beta_constant --loss_margin_beta 1.0",
        miner="distance", seed=2)
    add("margin_nu", rv, f"{R}.margin", "--loss margin --loss_margin_nu 0.05", patches=["pr14"], miner="distance",
        params=[("beta", "beta")], seed=3)
    add("margin_per_pair_count", rv, f"{R}.margin", "--loss margin", ours="--loss_margin_per_pair_count",
        patches=["per_pair_count"], miner="distance", params=[("beta", "beta")], seed=4)
    add("margin_rho", rv, f"{R}.margin", "--loss margin --batch_mining rho_distance --miner_rho_distance_cp 0.4",
        miner="rho_distance", params=[("beta", "beta")], seed=5)
    add("triplet", rv, f"{R}.triplet", "--loss triplet", miner="distance")
    add("triplet_raw_margin", rv, f"{R}.triplet", "--loss triplet --loss_triplet_margin 0.5 --batch_mining random",
        emb="raw", miner="random")
    add("contrastive", rv, f"{R}.contrastive", "--loss contrastive", miner="distance")
    add("contrastive_flip", rv, f"{R}.contrastive",
        "--loss contrastive --loss_contrastive_pos_margin 0.1 --loss_contrastive_neg_margin 1.2 "
        "--batch_mining rho_distance --miner_rho_distance_cp 0.5", miner="rho_distance")
    add("lifted", rv, f"{R}.lifted", "--loss lifted --batch_mining lifted", patches=["p1_per_pair"], emb="raw",
        miner="lifted")
    add("npair", rv, f"{R}.npair", "--loss npair --batch_mining npair", emb="raw", miner="npair")
    add("npair_bninception", rv, f"{R}.npair", "--loss npair --batch_mining npair --arch bninception_normalize",
        emb="raw", miner="npair")
    add("angular", rv, f"{R}.angular", "--loss angular --batch_mining npair", patches=["angular_index"], emb="raw",
        labels="balanced", miner="npair")
    add("angular_alpha36", rv, f"{R}.angular", "--loss angular --batch_mining npair --loss_angular_alpha 36",
        patches=["angular_index"], emb="raw", labels="balanced", miner="npair")
    add("snr", rv, f"{R}.snr", "--loss snr --batch_mining random", emb="raw", miner="random")
    add("snr_distance", rv, f"{R}.snr", "--loss snr --batch_mining distance", emb="raw", miner="random",
        miner_name="distance")
    add("quadruplet", rv, f"{R}.quadruplet", "--loss quadruplet", miner="distance")
    add("quadruplet_raw", rv, f"{R}.quadruplet", "--loss quadruplet --loss_quadruplet_margin_alpha_2 0.5",
        emb="raw", miner="random", seed=1)
    add("quadruplet_per_triplet", rv, f"{R}.quadruplet", "--loss quadruplet", ours="--loss_quadruplet_per_triplet",
        patches=["quadruplet_per_triplet"], miner="distance")
    add("proxynca", rv, f"{R}.proxynca", "--loss proxynca", emb="raw", params=[("proxies", "proxies")])
    add("softmax", rv, f"{R}.softmax", "--loss softmax", params=[("class_map", "class_map")])
    add("arcface", rv, f"{R}.arcface", "--loss arcface", params=[("class_map", "class_map")])
    add("arcface_all_logits", rv, f"{R}.arcface", "--loss arcface", ours="--loss_arcface_all_logits",
        patches=["arcface_all_logits"], params=[("class_map", "class_map")])
    add("softtriplet", rv, f"{R}.softtriplet", "--loss softtriplet", patches=["c3_lr"],
        params=[("intra_class_centroids", "centroids")])
    add("softtriplet_paper", rv, f"{R}.softtriplet", "--loss softtriplet", ours="--loss_softtriplet_paper",
        patches=["c3_lr", "softtriplet_paper"], params=[("intra_class_centroids", "centroids")])
    add("histogram", rv, f"{R}.histogram", "--loss histogram", extra_guard=guard_histogram)
    add("histogram_nbins11", rv, f"{R}.histogram", "--loss histogram --loss_histogram_nbins 11",
        extra_guard=guard_histogram)
    add("histogram_nbins21", rv, f"{R}.histogram", "--loss histogram --loss_histogram_nbins 21",
        extra_guard=guard_histogram, seed=1)
    add("histogram_nbins11_b", rv, f"{R}.histogram", "--loss histogram --loss_histogram_nbins 11",
        extra_guard=guard_histogram, B=16, D=4, seed=2)
    add("multisimilarity", rv, f"{R}.multisimilarity", "--loss multisimilarity", extra_guard=guard_ms)
    add("multisimilarity_nir", nr, f"{R}.multisimilarity",
        "--loss multisimilarity --loss_multisimilarity_pos_thresh 0.4 --loss_multisimilarity_neg_thresh 0.3",
        ours="--loss_multisimilarity_variant nir", nir=True, extra_guard=guard_ms_nir)
    add("oproxy_anchor", nr, f"{R}.oproxy", "--loss oproxy", nir=True, params=[("proxies", "proxies")])
    add("oproxy_nca", nr, f"{R}.oproxy", "--loss oproxy --loss_oproxy_mode nca", nir=True,
        params=[("proxies", "proxies")])
    add("adversarial_separation", rv, f"{R}.adversarial_separation", "--loss adversarial_separation",
        ours="--diva_decorrnet_dim 4 --diva_decorrelations 0-1 1-0 --diva_rho_decorrelation 1.5 2",
        patches=["gradrev"], emb="raw", feature_chunks=2, params=[("advsep", "advsep")],
        setattrs={"diva_decorrnet_dim": 4, "diva_decorrelations": ["0-1", "1-0"], "diva_rho_decorrelation": [1.5, 2.0],
                  "diva_decorrnet_lr": 1e-5})
    add("nir", nr, f"{R}.nir", "--loss nir --loss_nir_nf_cblocks 2 --loss_nir_nf_fc_depth 3 --loss_nir_nf_fc_width 5 "
        "--loss_nir_w_align 0.3", nir=True, params=[("proxies", "proxies"), ("flow", "flow")])
    add("nir_start", nr, f"{R}.nir", "--loss nir --loss_nir_nf_cblocks 2 --loss_nir_nf_fc_depth 3 "
        "--loss_nir_nf_fc_width 5 --loss_nir_nf_cond_mode start --loss_nir_nf_clamp_alpha 1.5", nir=True,
        params=[("proxies", "proxies"), ("flow", "flow")])
    # the same image twice in a class_random batch: identical embeddings, zero distances (torch's subgradients)
    T_dup = [[0, 1, 2], [3, 4, 7], [1, 0, 5], [2, 3, 8]]
    add("dup_margin", rv, f"{R}.margin", "--loss margin", miner=T_dup, miner_name="distance", dup=True,
        params=[("beta", "beta")])
    add("dup_triplet", rv, f"{R}.triplet", "--loss triplet", miner=T_dup, miner_name="distance", dup=True)
    add("dup_contrastive", rv, f"{R}.contrastive", "--loss contrastive", miner=T_dup, miner_name="distance", dup=True)
    add("dup_lifted", rv, f"{R}.lifted", "--loss lifted --batch_mining lifted", patches=["p1_per_pair"], emb="raw",
        miner="lifted", dup=True)
    add("dup_quadruplet", rv, f"{R}.quadruplet", "--loss quadruplet", miner="distance", dup=True)
    add("dup_histogram", rv, f"{R}.histogram", "--loss histogram", dup=True)
    add("dup_multisimilarity", rv, f"{R}.multisimilarity", "--loss multisimilarity", dup=True)
    add("dup_npair", rv, f"{R}.npair", "--loss npair --batch_mining npair", emb="raw", miner="npair", dup=True)
    return out


def draw(case, attempt, rv, nr):
    rng = np.random.RandomState(20261201 + 977 * case.seed + 7919 * attempt)
    B, D, C = case.B, case.D, case.C
    y = build_labels(case.labels, B) if case.B <= 12 else [i % 7 for i in range(B)]
    if case.B > 12:
        C = case.C = 7
    emb = f32(rng.randn(B, D) * 0.7) if case.emb == "raw" else unit(rng.randn(B, D))
    if case.dup:
        emb = emb.copy()
        emb[1] = emb[0]
        emb[4] = emb[3]
    params = []
    for pn, kind in case.params or []:
        if kind == "beta":
            params.append(("beta", f32(1.2 + 0.15 * rng.uniform(-1, 1, C))))
        elif kind == "beta06":
            params.append(("beta", f32(0.6 + 0.1 * rng.uniform(-1, 1, C))))
        elif kind == "proxies":
            params.append(("proxies", f32(rng.randn(C, D) / 8)))
        elif kind == "class_map":
            params.append(("class_map", f32(rng.uniform(-1 / math.sqrt(D), 1 / math.sqrt(D), (C, D)))))
        elif kind == "centroids":
            params.append(("intra_class_centroids", f32(rng.uniform(-1, 1, (D, C * 2)) / math.sqrt(C * 2))))
        elif kind == "flow":
            v = flow_init(nr, case)
            params.append(("flow", f32(v + 0.05 * rng.uniform(-1, 1, v.shape))))
        elif kind == "advsep":
            d, P = D // 2, 4
            for a_, b_ in [(0, 1), (1, 0)]:
                params += [(f"regressors.{a_}-{b_}.0.weight", f32(rng.uniform(-1, 1, (P, d)) / math.sqrt(d))),
                           (f"regressors.{a_}-{b_}.0.bias", f32(rng.uniform(-1, 1, (P,)) / math.sqrt(d))),
                           (f"regressors.{a_}-{b_}.2.weight", f32(rng.uniform(-1, 1, (d, P)) / math.sqrt(P))),
                           (f"regressors.{a_}-{b_}.2.bias", f32(rng.uniform(-1, 1, (d,)) / math.sqrt(P)))]
    return y, emb, params


# our parameter names where they differ from the reference's
OUR_NAME = {"intra_class_centroids": "intra_class_weights"}


def h1_table(Rmax=130):
    """For each R: bins r where histogram.py's float64 equality tests fail for a similarity in bin k = r (indsb) or
    k = r − 1 (indsa), computed with numpy exactly as the reference does."""
    lines = []
    for R in range(2, Rmax + 1):
        bw = 2 / (R - 1)
        support = np.linspace(-1, 1, R).reshape(-1, 1)
        k = np.arange(R).reshape(1, -1)
        assigned = k.astype(int) * bw - 1  # the value of ((s+1)/bw).astype(int)*bw - 1 for bin k
        bad_a = [r for r in range(1, R) if not (assigned[0, r - 1] == (support - bw)[r, 0])]
        bad_b = [r for r in range(R) if not (assigned[0, r] == support[r, 0])]
        lines.append(f"h1 {R} " + " ".join(map(str, bad_a)) + " ; " + " ".join(map(str, bad_b)))
    return lines


# ------------------------------------------------------------------------------------------------ miners, samplers
def miner_fixtures(rv):
    """The parametric miner's per-anchor negative distributions, captured from the reference's own np.random.choice
    calls (its `p` argument), for each mode; batches away from bin edges and from the 1e-4 distance clamp."""
    lines = []
    lib = patched_module(rv, "batchminer.parametric", ["no_debugger"])
    for mode, n_support, lim, seed in [("uniform", 10, (0.1, 1.9), 0), ("hards", 10, (0.1, 1.9), 1),
                                       ("semihards", 12, (0.1, 1.9), 2), ("veryhards", 10, (0.1, 1.9), 3),
                                       ("hards", 100, (0.1, 1.9), 4), ("semihards", 7, (0.2, 1.4), 5)]:
        B, D = 16, 6
        y = [i // 3 for i in range(15)] + [9]  # five classes of 3, one singleton
        for attempt in range(200):
            rng = np.random.RandomState(777 + 31 * seed + 7919 * attempt)
            emb = unit(rng.randn(B, D))
            x = torch.tensor(emb, dtype=torch.float32)
            d = torch.cdist(x.double(), x.double()).numpy()
            support = np.linspace(lim[0], lim[1], n_support)
            gap = np.abs(d[~np.eye(B, dtype=bool)].reshape(-1, 1) - support.reshape(1, -1)).min()
            if gap > (1e-3 if n_support < 50 else 2e-5):
                break
        opt, _ = make_opt(rv, [])
        opt.miner_parametric_mode, opt.miner_parametric_n_support = mode, n_support
        opt.miner_parametric_support_lim = lim
        m = lib.BatchMiner(opt)
        probs, orig = [], np.random.choice

        def choice(a, size=None, replace=True, p=None):
            if p is not None:
                probs.append(np.asarray(p, dtype=np.float64))
            return orig(a, size, replace, p)

        np.random.choice = choice
        np.random.seed(seed)
        try:
            trip = m(x, torch.tensor(y))
        finally:
            np.random.choice = orig
        anchors = [t[0] for t in trip]
        lines.append("miner parametric")
        lines.append(f"args --batch_mining parametric --miner_parametric_mode {mode} --miner_parametric_n_support "
                     f"{n_support} --miner_parametric_support_lim_lo {lim[0]} --miner_parametric_support_lim_hi {lim[1]}")
        lines.append(f"shape {B} {D}")
        lines.append("labels " + " ".join(map(str, y)))
        lines.append("emb " + " ".join(f"{float(v):.9g}" for v in emb.ravel()))
        for a, p in zip(anchors, probs):
            full = np.zeros(B)
            full[np.array(y) != y[a]] = p
            lines.append(f"probs {a} " + " ".join(repr(float(v)) for v in full))
        lines.append("end")
        print(f"parametric {mode:9s} n {n_support:3d}: {len(anchors)} anchors, gap {gap:.1e}", file=sys.stderr)
    return lines


def sampler_fixtures(nr):
    """NIR's --data_ssl_set batch length and layout for several (bs, spc), from its own class_random sampler."""
    lines = []
    lib = sys.modules["datasampler.class_random_sampler"]
    for bs, spc in [(90, 2), (112, 2), (8, 2), (14, 2), (12, 4), (90, 3), (20, 4)]:
        opt, _ = make_opt(nr, ["--bs", str(bs), "--samples_per_class", str(spc), "--data_ssl_set"], nir=True)
        image_dict = {c: [[f"img{c}_{k}", c * 10 + k] for k in range(10)] for c in range(30)}
        image_list = [v for c in image_dict for v in image_dict[c]]
        random.seed(5)
        batch = next(iter(lib.Sampler(opt, image_dict, image_list)))
        n = len(batch)
        assert batch[:n // 2] == batch[n // 2:]
        for g in range(n // 2 // spc):
            assert len({v // 10 for v in batch[g * spc:(g + 1) * spc]}) == 1
        lines.append(f"ssl {bs} {spc} {n}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--revisit", required=True)
    ap.add_argument("--nir", required=True)
    ap.add_argument("--freia", required=True)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", default="")
    ap.add_argument("--methods-out", default=os.path.join(HERE, "..", "fixtures", "zoo", "methods.txt"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    rv = load_repo(os.path.abspath(a.revisit))
    rv_mods = {k: v for k, v in sys.modules.items() if k.split(".")[0] in OWN}
    nr = load_repo(os.path.abspath(a.nir), os.path.abspath(a.freia))
    nr_mods = {k: v for k, v in sys.modules.items() if k.split(".")[0] in OWN}
    scopes = {id(rv): rv_mods, id(nr): nr_mods}
    fmt = lambda v: " ".join(repr(float(t)) for t in np.ravel(v))
    fmt32 = lambda v: " ".join(f"{float(t):.9g}" for t in np.ravel(v))  # float32 values: 9 digits are exact
    lines = [f"# criterion fixtures v{VERSION} from the reference code, torch {torch.__version__}, numpy "
             f"{np.__version__}; regenerate: /usr/bin/python3 tests/reference/reference_criteria.py "
             f"--revisit DIR --nir DIR --freia DIR"]
    for case in cases(rv, nr):
        if a.only and case.name not in a.only.split(","):
            continue
        repo = case.repo
        for k in list(sys.modules):
            if k.split(".")[0] in OWN:
                del sys.modules[k]
        sys.modules.update(scopes[id(repo)])
        for attempt in range(200):
            y, emb, params = draw(case, attempt, rv, nr)
            g = Guard()
            L64, g64, gp64, rows, q64 = run_case(repo, case, emb, y, params, torch.float64, g)
            if case.dup or (g.gap > KINK_GAP and np.isfinite(L64)):
                break
        else:
            raise SystemExit(f"{case.name}: no batch away from branch points")
        L32, g32, gp32, rows32, q32 = run_case(repo, case, emb, y, params, torch.float32)
        assert rows32 == rows and q32 == q64, case.name
        if case.module.endswith("quadruplet"):
            assert len(q64) == len(rows)
        src = os.path.relpath(os.path.join(repo["root"], *case.module.split(".")) + ".py", repo["root"])
        repo_name = "revisit" if repo is rv else "nir"
        lines.append(f"case {case.name}")
        lines.append(f"source {repo_name}:{src}" + "".join(f" patch:{p}" for p in case.patches))
        lines.append(f"args {case.args} {case.ours} --embed_dim {case.D}".replace("  ", " "))
        lines.append(f"shape {case.B} {case.D} {case.C}")
        lines.append("labels " + " ".join(map(str, y)))
        lines.append(f"tuples {len(rows)} " + " ".join(str(v) for t in rows for v in t))
        if case.module.endswith("quadruplet"):
            lines.append(f"fourth {len(q64)} " + " ".join(map(str, q64)))
        lines.append("emb " + fmt32(emb))
        for pn, v in params:
            lines.append(f"param {OUR_NAME.get(pn, pn)} {v.size} " + fmt32(v))
        lines.append(f"loss {L64!r}")
        lines.append("grad_emb " + fmt(g64))
        for pn, v in params:
            lines.append(f"grad_param {OUR_NAME.get(pn, pn)} {v.size} " + fmt(gp64[pn]))
        lines.append(f"loss32 {L32:.9g}")
        lines.append("grad_emb32 " + fmt32(g32))
        for pn, v in params:
            lines.append(f"grad_param32 {OUR_NAME.get(pn, pn)} {v.size} " + fmt32(gp32[pn]))
        lines.append("end")
        print(f"{case.name:26s} attempt {attempt:2d} gap {g.gap:9.2e} loss {L64:.6f} (f32 {L32:.6f})", file=sys.stderr)
    lines += h1_table()
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", a.out, file=sys.stderr)
    for k in list(sys.modules):
        if k.split(".")[0] in OWN:
            del sys.modules[k]
    sys.modules.update(rv_mods)
    ml = [f"# miner / sampler fixtures v{VERSION} from the reference code (see reference_criteria.py)"]
    ml += miner_fixtures(rv)
    for k in list(sys.modules):
        if k.split(".")[0] in OWN:
            del sys.modules[k]
    sys.modules.update(nr_mods)
    ml += sampler_fixtures(nr)
    with open(a.methods_out, "w") as f:
        f.write("\n".join(ml) + "\n")
    print("wrote", a.methods_out, file=sys.stderr)


if __name__ == "__main__":
    main()
