#!/usr/bin/env bash
# A small study on the embedded Fashion-MNIST default (CPU, minutes): margin loss with β = 1.2 and 0.6 and
# distance-weighted mining, 5 seeds each; then aggregate and tabulate.
set -euo pipefail
BIN=${BIN:-build/bin}
OUT=${OUT:-runs/fmnist}
for beta in 1.2 0.6; do
  for seed in 0 1 2 3 4; do
    "$BIN/dml-train" --dataset fashion_mnist --arch mlp_normalize --loss margin --batch_mining distance \
      --loss_margin_beta $beta --lr 1e-3 --n_epochs 20 --seed $seed --kernels 2 --save_path "$OUT" \
      --group "FMNIST_Margin_b${beta/./}_Distance"
  done
done
"$BIN/dml-aggregate" "$OUT" --out "$OUT/aggregate.json"
"$BIN/dml-table" "$OUT/aggregate.json" --latex --scale 100
