#!/usr/bin/env bash
# The benchmark runs of "Non-isotropy Regularization for Proxy-based Deep Metric Learning" (CVPR 2022) as
# dml-train lines: the 14 runs of the NIR repository's nir_benchmark_runs.sh (spec B6) with the same flags, group
# names and seed (0; $SEEDS for more). ProxyAnchor baselines (--loss oproxy) and NIR (--loss nir) on CUB200 and
# CARS196 at 128 and 512 dimensions, average or average+max ("double") pooling; NIR on SOP.
# One change (BUG N5): that script's SOP lines pass `--loss normflow --loss_normflow_w_align 0.3
# --loss_normflow_lrmulti 1`, which the NIR code does not have (argparse stops); here they are the intended
# `--loss nir --loss_nir_w_align 0.3 --loss_nir_lrmulti 1`. Its commented alternative CARS schedules
# (--tau 144 --gamma 0.5, --tau 34 --gamma 0.25, --tau 29 --gamma 0.5) are not run. Usage:
#   DATAPATH=/data DML=build/bin/dml-train runs/presets/nir_cvpr2022.sh            # run everything in sequence
#   PRINT=1 runs/presets/nir_cvpr2022.sh | split -l 1 - job_                       # one line per job (Slurm arrays)
# Needs the datasets under $DATAPATH/{cub200,cars196,online_products} and resnet50.safetensors in $DML_WEIGHTS
# (dml-train --help: --pretrained). Without a W&B key, --log_online is reported once and the runs train locally.
set -euo pipefail
DML=${DML:-build/bin/dml-train}
DATAPATH=${DATAPATH:-../Datasets}
GPU=${GPU:-0}
SEEDS=${SEEDS:-0}
run() { if [ -n "${PRINT:-}" ]; then echo "$DML $*"; else "$DML" "$@"; fi; }

for seed in $SEEDS; do
  c="--log_online --seed $seed --no_train_metrics --project NIR --gpu $GPU --source_path $DATAPATH --bs 90"
  for ds in cub200 cars196; do
    case $ds in cub200) w=0.0075 ;; cars196) w=0.01 ;; esac
    b="$c --dataset $ds --n_epochs 100 --tau 100 --gamma 0.1"
    nir="--loss nir --warmup 1 --loss_nir_w_align $w"
    run $b --group ${ds}_r128_proxyanchor-baseline --arch resnet50_frozen_normalize --embed_dim 128 --loss oproxy
    for dim in 128 512; do
      run $b --group ${ds}_r${dim}_proxyanchor-NIR_w-$w --arch resnet50_frozen_normalize --embed_dim $dim $nir
      run $b --group ${ds}_r${dim}-double_proxyanchor-NIR_w-$w --arch resnet50_frozen_normalize_double \
        --embed_dim $dim $nir
    done
  done
  b="$c --dataset online_products --n_epochs 300 --tau 140 230 --gamma 0.2"
  nir="--loss nir --warmup 5 --loss_nir_w_align 0.3 --loss_nir_lrmulti 1"
  run $b --group online_products_proxyanchor-NIR_t140-230_g02 --arch resnet50_frozen_normalize --embed_dim 128 $nir
  run $b --group online_products_proxyanchor-NIR_full-double_t140-230_g02 --arch resnet50_frozen_normalize_double \
    --embed_dim 128 $nir
  run $b --group online_products_proxyanchor-NIR-512_full_t140-230_g02 --arch resnet50_frozen_normalize \
    --embed_dim 512 $nir
  run $b --group online_products_proxyanchor-NIR-512_full-double_t140-230_g02 \
    --arch resnet50_frozen_normalize_double --embed_dim 512 $nir
done
