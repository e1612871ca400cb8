#!/usr/bin/env bash
# The sample lines of the two reference READMEs with only `python main.py` replaced by dml-train: the Revisit
# README's basic sample run (margin loss + distance mining, ResNet-50 frozen + normalised, 128-d, class_random,
# --bs 112) and the NIR README's two example calls (ProxyAnchor baseline; its "NIR" example, which pairs the NIR
# flags with --loss multisimilarity, so NIR is not active there — nir_cvpr2022.sh has the --loss nir runs).
# $DATAPATH is the README's $datapath, $GPU its $gpu. Flags without effect here (--gpu, --evaluate_on_gpu, and
# --log_online without a W&B key) are accepted and reported once. Usage:
#   DATAPATH=/data DML=build/bin/dml-train runs/presets/reference_readme.sh
#   PRINT=1 runs/presets/reference_readme.sh
# Needs $DATAPATH/cub200 and resnet50.safetensors in $DML_WEIGHTS (dml-train --help: --pretrained).
set -euo pipefail
DML=${DML:-build/bin/dml-train}
DATAPATH=${DATAPATH:-../Datasets}
GPU=${GPU:-0}
run() { if [ -n "${PRINT:-}" ]; then echo "$DML $*"; else "$DML" "$@"; fi; }

# Revisiting_Deep_Metric_Learning_PyTorch README, "A basic sample run using default parameters"
run --loss margin --batch_mining distance --log_online \
    --project DML_Project --group Margin_with_Distance --seed 0 \
    --gpu 0 --bs 112 --data_sampler class_random --samples_per_class 2 \
    --arch resnet50_frozen_normalize --source $DATAPATH --n_epochs 150 \
    --lr 0.00001 --embed_dim 128 --evaluate_on_gpu
# NonIsotropicProxyDML README, the exemplary call and the call "with non-isotropy regularization"
run --seed 2 --log_online --group cub200-rn128_proxyanchor_baseline --no_train_metrics --project NIR --gpu $GPU --source_path $DATAPATH \
    --dataset cub200 --n_epochs 100 --tau 100 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 128 --loss oproxy --bs 90
run --seed 2 --log_online --group cub200-rn128_proxyanchor_nir --no_train_metrics --project NIR --gpu $GPU --source_path $DATAPATH \
    --dataset cub200 --n_epochs 100 --tau 100 --gamma 1 --arch resnet50_frozen_normalize --embed_dim 128 --loss multisimilarity --bs 90 \
    --warmup 1 --loss_nir_w_align 0.0075
