#!/bin/sh
# run_all.sh — every criterion, miner and sampler name of the zoo through dml-train (1 epoch, 100 images per class
# of Fashion-MNIST) and every criterion through dml-criterion (a random batch written with h5py); prints one line
# per run with the exit status and test e_recall@1 after the epoch.
#   bench/zoo/run_all.sh [BUILD_DIR=build] [OUT=/tmp/zoo-runs]
BUILD=${1:-build}
OUT=${2:-/tmp/zoo-runs}
TRAIN=$BUILD/bin/dml-train
CRIT=$BUILD/bin/dml-criterion
fails=0
run() {
  out=$($TRAIN --dataset fashion_mnist "$@" --n_epochs 1 --max_per_class 100 --no_train_metrics --save_path "$OUT" --group "zoo$(date +%s%N)" 2>&1)
  rc=$?
  [ $rc -ne 0 ] && fails=$((fails + 1))
  echo "rc=$rc dml-train $* :: $(echo "$out" | grep -o 'after 1 epoch [0-9.na]*') $(echo "$out" | grep 'error' | head -1)"
}
for l in triplet margin contrastive snr quadruplet; do
  for m in random semihard softhard distance rho_distance parametric random_distance intra_random global_hardneg; do
    run --loss $l --batch_mining $m --miner_semihard_margin 0.2 --lr 1e-3
  done
done
run --loss lifted --batch_mining lifted --lr 1e-3
run --loss npair --batch_mining npair --lr 1e-3
run --loss angular --batch_mining npair --lr 1e-3
for l in proxynca softmax arcface softtriplet histogram multisimilarity oproxy adversarial_separation; do run --loss $l --lr 1e-3; done
run --loss oproxy --loss_oproxy_mode nca --lr 1e-3
run --loss nir --lr 1e-5
for s in class_random full_random random greedy_coreset d2_coreset disthist_batchmatch global_hardneg; do run --loss margin --data_sampler $s --lr 1e-3; done

batch=$(mktemp /tmp/zoo_batch_XXXXXX.h5)
/usr/bin/python3 - "$batch" <<'PY'
import sys, h5py, numpy as np
rng = np.random.RandomState(0)
x = rng.randn(32, 16).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
with h5py.File(sys.argv[1], "w") as f:
    f["embeddings"] = x
    f["labels"] = np.repeat(np.arange(8, dtype=np.int32), 4)
PY
for l in triplet margin contrastive snr quadruplet lifted npair angular proxynca softmax arcface softtriplet histogram \
         multisimilarity oproxy adversarial_separation nir; do
  m=distance
  case $l in lifted) m=lifted ;; npair|angular) m=npair ;; esac
  out=$($CRIT --loss $l --batch_mining $m --batch "$batch" --out "$batch.$l.out.h5" 2>&1)
  rc=$?
  [ $rc -ne 0 ] && fails=$((fails + 1))
  echo "rc=$rc dml-criterion --loss $l --batch_mining $m :: $out"
done
rm -f "$batch" "$batch".*.out.h5
echo "failures: $fails"
[ $fails -eq 0 ]
