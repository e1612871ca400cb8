#!/usr/bin/env bash
# A run record written by dml-train, read with Debian's python3-h5py exactly as docs/run-format.md says.
# Skipped (77) where /usr/bin/python3 has no h5py. Usage: h5py_check.sh DML_TRAIN
set -euo pipefail
/usr/bin/python3 -c "import h5py" 2>/dev/null || { echo "python3-h5py not installed: skipped"; exit 77; }
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "no Fashion-MNIST: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DML_PROGRESS=0 "$1" --dataset fashion_mnist --max_per_class 50 --n_epochs 1 --bs 20 --lr 1e-3 --seed 2 --eval_init --save_path "$tmp" --group h5 >/dev/null
/usr/bin/python3 "$(dirname "$0")/../reference/check_runrecord_h5py.py" "$tmp/fashion_mnist/h5_s2/run.h5"
