#!/usr/bin/env bash
# done-when — issue 10's "done when" in one command: the Revisit README's basic sample line, with only
# `python main.py` → dml-train and --n_epochs added, on a synthetic CUB-shaped tree (200 classes × PER_CLASS
# images, tests/datasets' generator) with randomly initialised ImageNet-layout resnet50 weights in $DML_WEIGHTS
# (tests/e2e/make_weights: torchvision names, fc.* classifier), then the checks: status finished, test metrics,
# latest test embeddings of 100 classes labelled 100–199 as the reference. Prints the wall time, the step arena
# and the peak RSS (GNU time). Run from the repository root after a build:
#   nice -n 5 bench/data/done-when.sh                    # BUILD=build WORK=/tmp/dml-done-when EPOCHS=1 PER_CLASS=3
# With DML_TAPE_KEEP=1 in the environment the step arena keeps every tensor until the step ends (the memory of
# the bump arena before tensors were released), for a before/after comparison of the peak.
set -euo pipefail
BUILD=${BUILD:-build}
WORK=${WORK:-/tmp/dml-done-when}
EPOCHS=${EPOCHS:-1}
PER_CLASS=${PER_CLASS:-3}   # 100 training classes × 3 = 300 images: 2 batches of 112 (class_random, 2 per class)
DML=$(readlink -f "$BUILD/bin/dml-train")
for b in dml-train make_tree make_weights; do
  [ -x "$BUILD/bin/$b" ] || { echo "done-when: $BUILD/bin/$b missing (build first: cmake --build $BUILD)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "done-when: /usr/bin/time (GNU time) is needed for the peak RSS" >&2; exit 1; }
rm -rf "$WORK/runs"
mkdir -p "$WORK/weights"
DATAPATH="$WORK/data"
[ -d "$DATAPATH/cub200/images" ] || "$BUILD/bin/make_tree" cub "$DATAPATH" 200 "$PER_CLASS" 500 375
[ -s "$WORK/weights/resnet50.safetensors" ] || "$BUILD/bin/make_weights" resnet50 "$WORK/weights/resnet50.safetensors" 0
export DML_WEIGHTS="$WORK/weights" DML_PROGRESS=0
cd "$WORK"
# Revisiting_Deep_Metric_Learning_PyTorch README, "A basic sample run using default parameters" (as in
# runs/presets/reference_readme.sh), plus --n_epochs
/usr/bin/time -v -o "$WORK/time.txt" "$DML" --loss margin --batch_mining distance --log_online \
    --project DML_Project --group Margin_with_Distance --seed 0 \
    --gpu 0 --bs 112 --data_sampler class_random --samples_per_class 2 \
    --arch resnet50_frozen_normalize --source "$DATAPATH" --n_epochs "$EPOCHS" \
    --lr 0.00001 --embed_dim 128 --evaluate_on_gpu 2>&1 | tee "$WORK/train.log"
rec="$WORK/runs/cub200/Margin_with_Distance_s0/run.h5"
[ -s "$rec" ] || { echo "done-when: FAIL: no run record at $rec" >&2; exit 1; }
fail=0
status=$(h5dump -a /status "$rec" | sed -n 's/.*(0): "\(.*\)".*/\1/p')
echo "record: $rec, status $status"
[ "$status" = finished ] || { echo "done-when: FAIL: status '$status', expected finished"; fail=1; }
metrics=$(h5ls "$rec/metrics/test" 2>/dev/null | awk '{print $1}' | tr '\n' ' ')
echo "test metrics: $metrics"
case " $metrics " in *" e_recall@1 "*) ;; *) echo "done-when: FAIL: no metrics/test/e_recall@1"; fail=1 ;; esac
h5dump -d /metrics/test/e_recall@1 "$rec" | sed -n 's/^ *([0-9]*): /e_recall@1 per evaluated epoch: /p' | head -1
h5ls "$rec/embeddings/latest/test" | sed 's/^/embeddings\/latest\/test: /'
# the values of the dataset's DATA block (not its DATASPACE or attributes)
read -r n lo hi nl <<< "$(h5dump -d /embeddings/latest/test/labels -y -w 0 "$rec" |
  awk '/^ *DATA \{/ {f = 1; next} f && /^ *\}/ {exit} f' | tr -s ' ,' '\n\n' | grep -E '^[0-9]+$' | sort -n |
  awk 'NR == 1 {lo = $1} {hi = $1; c[$1] = 1; n++} END {print n, lo, hi, length(c)}')"
echo "test labels: $n images, $nl classes, $lo–$hi"
[ "$lo" = 100 ] && [ "$hi" = 199 ] && [ "$nl" = 100 ] || { echo "done-when: FAIL: test labels should be 100–199"; fail=1; }
echo "wall time: $(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$WORK/time.txt")," \
     "peak RSS: $(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt") / 1024 )) MiB," \
     "$(grep -o 'step arena [0-9.]* MiB' "$WORK/train.log" | head -1)"
[ "$fail" = 0 ] && echo "done-when: passed" || { echo "done-when: FAILED"; exit 1; }
