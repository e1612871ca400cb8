#!/usr/bin/env dml-sweep
# The demo study (make demo): five methods × three seeds on the embedded Fashion-MNIST, every split evaluated
# with the reference's embedding-space metrics (dists@*, rho_spectrum@*) so that the report can relate the
# training split's ρ(Φ) and intra/inter distance ratio to test R@1, as the Revisit paper does. CPU, minutes.
# A list of dml-train lines for dml-sweep (never run by a shell; --save_path and --kernels are the sweep's):
#   build/bin/dml-sweep run runs/presets/fmnist_study.sh --save_path runs/demo --jobs 2
#   build/bin/dml-sweep status runs/demo
# Seeds: the --seed lists below, or the sweep's --seeds 0-4.
# Groups follow the reference's names (<dataset>_<method>, <dataset>reg_ for the ρ-regularised miner) so that
# tables and figures show its display names.

dml-train --dataset fashion_mnist --max_per_class 1000 --arch mlp_normalize --embed_dim 16 --bs 112 \
  --samples_per_class 2 --lr 1e-3 --n_epochs 8 \
  --evaluation_metrics e_recall@1 e_recall@2 e_recall@4 nmi dists@intra dists@inter dists@intra_over_inter \
                       rho_spectrum@0 rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10 \
  --group FMNIST_Margin_b12_Distance --loss margin --batch_mining distance --seed 0-2

dml-train --dataset fashion_mnist --max_per_class 1000 --arch mlp_normalize --embed_dim 16 --bs 112 \
  --samples_per_class 2 --lr 1e-3 --n_epochs 8 \
  --evaluation_metrics e_recall@1 e_recall@2 e_recall@4 nmi dists@intra dists@inter dists@intra_over_inter \
                       rho_spectrum@0 rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10 \
  --group FMNISTreg_Margin_b12_Distance --loss margin --batch_mining rho_distance --miner_rho_distance_cp 0.35 \
  --seed 0-2

dml-train --dataset fashion_mnist --max_per_class 1000 --arch mlp_normalize --embed_dim 16 --bs 112 \
  --samples_per_class 2 --lr 1e-3 --n_epochs 8 \
  --evaluation_metrics e_recall@1 e_recall@2 e_recall@4 nmi dists@intra dists@inter dists@intra_over_inter \
                       rho_spectrum@0 rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10 \
  --group FMNIST_Triplet_Semihard --loss triplet --batch_mining semihard --seed 0-2

dml-train --dataset fashion_mnist --max_per_class 1000 --arch mlp_normalize --embed_dim 16 --bs 112 \
  --samples_per_class 2 --lr 1e-3 --n_epochs 8 \
  --evaluation_metrics e_recall@1 e_recall@2 e_recall@4 nmi dists@intra dists@inter dists@intra_over_inter \
                       rho_spectrum@0 rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10 \
  --group FMNIST_MS --loss multisimilarity --seed 0-2

dml-train --dataset fashion_mnist --max_per_class 1000 --arch mlp_normalize --embed_dim 16 --bs 112 \
  --samples_per_class 2 --lr 1e-3 --n_epochs 8 \
  --evaluation_metrics e_recall@1 e_recall@2 e_recall@4 nmi dists@intra dists@inter dists@intra_over_inter \
                       rho_spectrum@0 rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10 \
  --group FMNIST_Contrastive --loss contrastive --batch_mining distance --seed 0-2
