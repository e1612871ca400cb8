#!/usr/bin/python3
"""Writes tests/fixtures/train/margin_loss.txt: the margin loss (Wu et al. 2017, as the Revisit reference
computes it) and its gradients by torch autograd in float64, for tests/train/test_margin.c.
Run with Debian's python3-torch: /usr/bin/python3 tests/reference/margin_loss.py"""
import os
import torch

torch.manual_seed(0)
B, D, C = 12, 16, 4
labels = torch.arange(B) % C
emb = torch.nn.functional.normalize(torch.randn(B, D, dtype=torch.float64), dim=1)
emb = emb.float().double().requires_grad_(True)   # exactly representable in float32
beta = (1.0 + 0.1 * torch.rand(C, dtype=torch.float64)).float().double().requires_grad_(True)
trip = []
g = torch.Generator().manual_seed(1)
for a in range(B):
    pos = [j for j in range(B) if labels[j] == labels[a] and j != a]
    neg = [j for j in range(B) if labels[j] != labels[a]]
    trip.append((a, pos[torch.randint(len(pos), (1,), generator=g).item()],
                 neg[torch.randint(len(neg), (1,), generator=g).item()]))
alpha = 0.2
a_i = torch.tensor([t[0] for t in trip]); p_i = torch.tensor([t[1] for t in trip]); n_i = torch.tensor([t[2] for t in trip])
d_ap = ((emb[a_i] - emb[p_i]).pow(2).sum(1) + 1e-8).sqrt()
d_an = ((emb[a_i] - emb[n_i]).pow(2).sum(1) + 1e-8).sqrt()
b = beta[labels[a_i]]
pos_l = torch.relu(d_ap - b + alpha)
neg_l = torch.relu(b - d_an + alpha)
count = ((pos_l > 0).sum() + (neg_l > 0).sum()).double()
loss = (pos_l + neg_l).sum() / count if count > 0 else (pos_l + neg_l).sum()
loss.backward()

out = os.path.join(os.path.dirname(__file__), "..", "fixtures", "train", "margin_loss.txt")
with open(out, "w") as f:
    f.write(f"{B} {D} {len(trip)} {C}\n")
    f.write(" ".join(str(int(v)) for v in labels) + "\n")
    for t in trip:
        f.write(f"{t[0]} {t[1]} {t[2]}\n")
    f.write(" ".join(repr(float(v)) for v in beta.detach()) + "\n")
    f.write(" ".join(repr(float(v)) for v in emb.detach().flatten()) + "\n")
    f.write(repr(float(loss)) + "\n")
    f.write(" ".join(repr(float(v)) for v in emb.grad.flatten()) + "\n")
    f.write(" ".join(repr(float(v)) for v in beta.grad) + "\n")
print("wrote", out, "torch", torch.__version__, "loss", float(loss))
