#!/usr/bin/env bash
# The standardised runs of "Revisiting Training Strategies and Generalization Performance in DML" (ICML 2020),
# as dml-train lines: 18 basic groups on CUB200 and CARS196, 16 on SOP, plus the ρ-regularised groups, seeds 0–4.
# Common flags as in the reference sample-run script (spec A12). Checked against Sample_Runs/
# ICML2020_RevisitDML_SampleRuns.sh: its 335 group lines, flag for flag (--kernels aside: 6 throughout here), with
# three group names normalised (the reference's CUBreg_Margin_b12_Distance_3, CUBreg_Triplet_Distance_3 and
# "CUBreg_SNR_Distance _3" lose the "_3"); its first line, a leftover without --group, is not repeated. The
# reference lines log to W&B: LOG_ONLINE=1 adds --log_online here. Usage:
#   DATAPATH=/data DML=build/bin/dml-train runs/presets/revisit_icml2020.sh            # run everything in sequence
#   PRINT=1 runs/presets/revisit_icml2020.sh | split -l 1 - job_                       # one line per job (Slurm arrays)
# Needs the image datasets under $DATAPATH/{cub200,cars196,online_products} and resnet50.safetensors in
# $DML_WEIGHTS (dml-train --help: --pretrained).
set -euo pipefail
DML=${DML:-build/bin/dml-train}
DATAPATH=${DATAPATH:-../Datasets}
SEEDS=${SEEDS:-"0 1 2 3 4"}
run() { if [ -n "${PRINT:-}" ]; then echo "$DML $*"; else "$DML" "$@"; fi; }

common="--kernels 6 --source $DATAPATH${LOG_ONLINE:+ --log_online} --project RevisitDML --gpu 0 --bs 112 --samples_per_class 2"
for ds in cub200 cars196 online_products; do
  case $ds in
    cub200) P=CUB; R=CUBreg; E=150; cp_c=0.4; cp_m06=0.4; cp_m12=0.35; cp_t=0.4; cp_s=0.3 ;;
    cars196) P=CARS; R=CARreg; E=150; cp_c=0.35; cp_m06=0.35; cp_m12=0.35; cp_t=0.35; cp_s=0.35 ;;
    online_products) P=SOP; R=SOPreg; E=100; cp_c=0.15; cp_m06=0.15; cp_m12=0.15; cp_t=0.15; cp_s=0.15 ;;
  esac
  nbins=65; [ $ds = online_products ] && nbins=11
  softmax_lr=""; [ $ds = online_products ] && softmax_lr="--loss_softmax_lr 0.002"
  for seed in $SEEDS; do
    b="--dataset $ds $common --n_epochs $E --seed $seed"
    n="--arch resnet50_frozen_normalize"
    u="--arch resnet50_frozen"
    run $b --group ${P}_Npair --loss npair --batch_mining npair $u
    run $b --group ${P}_GenLifted --loss lifted --batch_mining lifted $u
    [ $ds != online_products ] && run $b --group ${P}_ProxyNCA --loss proxynca $n
    run $b --group ${P}_Histogram --loss histogram --loss_histogram_nbins $nbins $n
    run $b --group ${P}_Contrastive --loss contrastive --batch_mining distance $n
    [ $ds != online_products ] && run $b --group ${P}_SoftTriple --loss softtriplet $n
    run $b --group ${P}_Angular --loss angular --batch_mining npair $u
    run $b --group ${P}_ArcFace --loss arcface $n
    run $b --group ${P}_Triplet_Random --loss triplet --batch_mining random $n
    run $b --group ${P}_Triplet_Semihard --loss triplet --batch_mining semihard $n
    run $b --group ${P}_Triplet_Softhard --loss triplet --batch_mining softhard $n
    run $b --group ${P}_Triplet_Distance --loss triplet --batch_mining distance $n
    run $b --group ${P}_Quadruplet_Distance --loss quadruplet --batch_mining distance $n
    run $b --group ${P}_Margin_b06_Distance --loss margin --batch_mining distance --loss_margin_beta 0.6 $n
    run $b --group ${P}_Margin_b12_Distance --loss margin --batch_mining distance $n
    run $b --group ${P}_SNR_Distance --loss snr --batch_mining distance $n
    run $b --group ${P}_MS --loss multisimilarity $n
    run $b --group ${P}_Softmax --loss softmax --batch_mining distance $softmax_lr $n
    rho="--batch_mining rho_distance $n"
    run $b --group ${R}_Contrastive --loss contrastive $rho --miner_rho_distance_cp $cp_c
    run $b --group ${R}_Margin_b06_Distance --loss margin --loss_margin_beta 0.6 $rho --miner_rho_distance_cp $cp_m06
    run $b --group ${R}_Margin_b12_Distance --loss margin $rho --miner_rho_distance_cp $cp_m12
    run $b --group ${R}_Triplet_Distance --loss triplet $rho --miner_rho_distance_cp $cp_t
    run $b --group ${R}_SNR_Distance --loss snr $rho --miner_rho_distance_cp $cp_s
  done
done
