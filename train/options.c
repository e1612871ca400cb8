/* options — the flag table of dml-train: reference names and defaults (spec A1), in the reference's group
 * order (basic, batch creation, batch mining, loss, W&B), plus a few of ours marked "(dml)". */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

#define FLAG(n, t, d, h) {#n, DML_FLAG_##t, &o->n, d, h}

size_t dml_train_flags(struct dml_train_opts *o, struct dml_flag *out, size_t cap) {
  const struct dml_flag table[] = {
    /* basic: dataset */
    FLAG(dataset, STR, "fashion_mnist", "dataset: fashion_mnist (the embedded default)"),
    FLAG(source_path, STR, "/usr/share/datasets/fashion-mnist", "dataset root (argparse prefix: --source)"),
    FLAG(augmentation, STR, "base", "augmentation recipe (base)"),
    FLAG(max_per_class, INT, "0", "(dml) keep at most this many images per class in each split, 0 = all"),
    FLAG(use_tv_split, BOOL, "0", "carve a validation split out of the training data"),
    FLAG(tv_split_by_samples, BOOL, "0", "split per class by samples instead of by classes"),
    FLAG(tv_split_perc, FLOAT, "0.8", "fraction kept for training"),
    /* general training */
    FLAG(lr, FLOAT, "1e-5", "learning rate of the network"),
    FLAG(fc_lr, FLOAT, "-1", "learning rate of last_linear if >= 0"),
    FLAG(decay, FLOAT, "4e-4", "weight decay (Adam L2 style) on network parameters"),
    FLAG(n_epochs, INT, "150", "epochs"),
    FLAG(kernels, INT, "6", "worker threads (data loading, faiss)"),
    FLAG(bs, INT, "112", "batch size (divisible by --samples_per_class)"),
    FLAG(seed, INT, "1", "random seed"),
    FLAG(scheduler, STR, "step", "lr schedule: step (MultiStepLR over --tau) or none"),
    FLAG(gamma, FLOAT, "0.3", "lr multiplier at each milestone"),
    FLAG(tau, INTLIST, "1000", "lr milestones in epochs"),
    FLAG(optim, STR, "adam", "optimizer: adam"),
    FLAG(loss, STR, "margin", "criterion: margin"),
    FLAG(batch_mining, STR, "distance", "batch miner: distance"),
    /* network */
    FLAG(embed_dim, INT, "128", "embedding dimension"),
    FLAG(not_pretrained, BOOL, "0", "do not load pretrained weights"),
    FLAG(pretrained, STR, "", "(dml) ImageNet weights as .safetensors with torchvision names (the reference downloads them)"),
    FLAG(arch, STR, "mlp_normalize", "network: mlp, mlp_normalize (this build)"),
    FLAG(backend, STR, "auto", "(dml) compute backend: auto, cpu, cuda"),
    /* evaluation */
    FLAG(no_train_metrics, BOOL, "0", "skip metrics on the training split (honoured, unlike the reference)"),
    FLAG(evaluate_on_gpu, BOOL, "0", "faiss on GPU (needs a GPU faiss)"),
    FLAG(eval_init, BOOL, "0", "(dml) also evaluate before training, recorded as epoch -1"),
    FLAG(evaluation_metrics, STRLIST, "e_recall@1 e_recall@2 e_recall@4 e_recall@8 nmi", "metrics per split"),
    FLAG(storage_metrics, STRLIST, "e_recall@1", "metrics whose best epoch keeps embeddings/best"),
    FLAG(evaltypes, STRLIST, "discriminative", "embedding names (reference key part)"),
    /* setup */
    FLAG(gpu, INTLIST, "0", "GPU ids (the first is used)"),
    FLAG(savename, STR, "group_plus_seed", "run folder name; group_plus_seed = <group>_s<seed>"),
    FLAG(save_path, STR, "runs", "output root: <save_path>/<dataset>/<savename>/run.h5"),
    /* batch creation */
    FLAG(data_sampler, STR, "class_random", "batch sampler: class_random, random (full_random), greedy_coreset, d2_coreset, disthist_batchmatch"),
    FLAG(samples_per_class, INT, "2", "samples per class in a batch"),
    FLAG(data_batchmatch_bigbs, INT, "512", "big-batch size for the coreset / batch-match samplers"),
    FLAG(data_batchmatch_ncomps, INT, "10", "candidate batches compared (disthist_batchmatch)"),
    FLAG(data_storage_no_update, BOOL, "0", "do not refresh the embedding storage with training batches"),
    FLAG(data_d2_coreset_lambda, FLOAT, "1", "exponent on the distance weights of d2_coreset"),
    FLAG(data_gc_coreset_lim, FLOAT, "1e-9", "stored, unused (as the reference)"),
    FLAG(data_sampler_lowproj_dim, INT, "-1", "if > 0: random linear projection of the storage before coreset selection"),
    FLAG(data_sim_measure, STR, "euclidean", "stored, unused (as the reference)"),
    FLAG(data_gc_softened, BOOL, "0", "greedy coreset: random point above the 97th percentile instead of the argmax"),
    FLAG(data_idx_full_prec, BOOL, "0", "deprecated in the reference; accepted"),
    FLAG(data_mb_mom, FLOAT, "-1", "memory-bank momentum of the storage update (greedy coreset), < 0 = replace"),
    FLAG(data_mb_lr, FLOAT, "1", "deprecated in the reference; accepted"),
    FLAG(data_ssl_set, BOOL, "0", "NIR: the second half of every batch repeats the first half"),
    FLAG(data_hardneg_k, INT, "30", "(dml) global_hardneg sampler: each anchor's negative group comes from its k nearest other-class neighbours in the storage"),
    /* batch mining */
    FLAG(miner_distance_lower_cutoff, FLOAT, "0.5", "distance miner: lower distance cutoff"),
    FLAG(miner_distance_upper_cutoff, FLOAT, "1.4", "distance miner: upper cutoff (never applied, as in the reference)"),
    FLAG(miner_rho_distance_lower_cutoff, FLOAT, "0.5", "rho_distance miner: lower distance cutoff"),
    FLAG(miner_rho_distance_upper_cutoff, FLOAT, "1.4", "rho_distance miner: upper cutoff (never applied, as in the reference)"),
    FLAG(miner_rho_distance_cp, FLOAT, "0.2", "rho_distance miner: probability of a flipped (push-apart) triplet"),
    FLAG(miner_semihard_margin, FLOAT, "-1", "semihard miner margin (NIR flag); < 0 = --loss_<loss>_margin as in Revisit"),
    FLAG(miner_global_hardneg_k, INT, "30", "(dml) global_hardneg miner: negative drawn from the anchor's k nearest negatives in the batch"),
    FLAG(miner_parametric_mode, STR, "uniform", "(dml) parametric miner: uniform, hards, semihards, veryhards (flags missing in the reference, BUG M1)"),
    FLAG(miner_parametric_n_support, INT, "100", "(dml) parametric miner: distance bins"),
    FLAG(miner_parametric_support_lim_lo, FLOAT, "0.1", "(dml) parametric miner: lowest binned distance"),
    FLAG(miner_parametric_support_lim_hi, FLOAT, "1.9", "(dml) parametric miner: highest binned distance"),
    /* loss */
    FLAG(loss_margin_margin, FLOAT, "0.2", "margin loss: alpha"),
    FLAG(loss_margin_beta_lr, FLOAT, "5e-4", "margin loss: learning rate of beta"),
    FLAG(loss_margin_beta, FLOAT, "1.2", "margin loss: initial beta"),
    FLAG(loss_margin_nu, FLOAT, "0", "margin loss: beta regulariser weight (reference crashes when != 0; fixed)"),
    FLAG(loss_margin_beta_constant, BOOL, "0", "margin loss: beta is a constant"),
    FLAG(loss_contrastive_pos_margin, FLOAT, "0", "contrastive: positive margin"),
    FLAG(loss_contrastive_neg_margin, FLOAT, "1", "contrastive: negative margin"),
    FLAG(loss_triplet_margin, FLOAT, "0.2", "triplet (and semihard miner): margin on squared distances"),
    FLAG(loss_proxynca_lrmulti, FLOAT, "50", "proxynca: proxy lr = lr * lrmulti"),
    FLAG(loss_npair_l2, FLOAT, "0.005", "npair: weight of the mean embedding norm"),
    FLAG(loss_angular_alpha, FLOAT, "45", "angular: angle in degrees"),
    FLAG(loss_angular_npair_ang_weight, FLOAT, "2", "angular: weight of the angular term"),
    FLAG(loss_angular_npair_l2, FLOAT, "0.005", "angular: weight of the mean embedding norm"),
    FLAG(loss_multisimilarity_pos_weight, FLOAT, "2", "multisimilarity: alpha"),
    FLAG(loss_multisimilarity_neg_weight, FLOAT, "40", "multisimilarity: beta"),
    FLAG(loss_multisimilarity_margin, FLOAT, "0.1", "multisimilarity: mining epsilon"),
    FLAG(loss_multisimilarity_thresh, FLOAT, "0.5", "multisimilarity: lambda"),
    FLAG(loss_multisimilarity_variant, STR, "revisit", "(dml) multisimilarity: revisit (per-anchor) or nir (the NIR repository's vectorised form)"),
    FLAG(loss_multisimilarity_pos_thresh, FLOAT, "0.5", "multisimilarity, variant nir: lambda+"),
    FLAG(loss_multisimilarity_neg_thresh, FLOAT, "0.5", "multisimilarity, variant nir: lambda-"),
    FLAG(loss_lifted_neg_margin, FLOAT, "1", "lifted: negative margin"),
    FLAG(loss_lifted_l2, FLOAT, "0.005", "lifted: weight of the mean embedding norm"),
    FLAG(loss_quadruplet_margin_alpha_1, FLOAT, "0.2", "quadruplet: triplet margin"),
    FLAG(loss_quadruplet_margin_alpha_2, FLOAT, "0.2", "quadruplet: fourth-sample margin"),
    FLAG(loss_quadruplet_per_triplet, BOOL, "0", "(dml) quadruplet: paper form (one fourth sample per triplet) instead of the reference's all-pairs mean"),
    FLAG(loss_softtriplet_n_centroids, INT, "2", "softtriplet: centroids per class (K)"),
    FLAG(loss_softtriplet_margin_delta, FLOAT, "0.01", "softtriplet: delta"),
    FLAG(loss_softtriplet_gamma, FLOAT, "0.1", "softtriplet: gamma"),
    FLAG(loss_softtriplet_lambda, FLOAT, "8", "softtriplet: lambda"),
    FLAG(loss_softtriplet_reg_weight, FLOAT, "0.2", "softtriplet: tau (centroid regulariser weight)"),
    FLAG(loss_softtriplet_lrmulti, FLOAT, "1", "softtriplet: centroid lr = lr * lrmulti (BUG C3 fixed)"),
    FLAG(loss_softtriplet_paper, BOOL, "0", "(dml) softtriplet: paper form (normalised centroids, softmax over K with 1/gamma)"),
    FLAG(loss_softmax_lr, FLOAT, "1e-5", "softmax: lr of the class weights"),
    FLAG(loss_softmax_temperature, FLOAT, "0.05", "softmax: temperature"),
    FLAG(loss_histogram_nbins, INT, "65", "histogram: bins"),
    FLAG(loss_snr_margin, FLOAT, "0.2", "snr (and semihard miner): margin"),
    FLAG(loss_snr_reg_lambda, FLOAT, "0.005", "snr: regulariser weight (0 with the distance miners, as the reference)"),
    FLAG(loss_arcface_lr, FLOAT, "5e-4", "arcface: lr of the class weights"),
    FLAG(loss_arcface_angular_margin, FLOAT, "0.5", "arcface: additive angular margin (rad)"),
    FLAG(loss_arcface_feature_scale, FLOAT, "16", "arcface: scale s"),
    FLAG(loss_arcface_all_logits, BOOL, "0", "(dml) arcface: ICML-era version (margin correction added to every logit of the row)"),
    FLAG(loss_oproxy_mode, STR, "anchor", "oproxy: anchor (ProxyAnchor) or nca"),
    FLAG(loss_oproxy_lrmulti, FLOAT, "2000", "oproxy: proxy lr = lr * lrmulti"),
    FLAG(loss_oproxy_pos_alpha, FLOAT, "32", "oproxy: positive scale"),
    FLAG(loss_oproxy_neg_alpha, FLOAT, "32", "oproxy: negative scale"),
    FLAG(loss_oproxy_pos_delta, FLOAT, "0.1", "oproxy: positive margin"),
    FLAG(loss_oproxy_neg_delta, FLOAT, "-0.1", "oproxy: negative margin"),
    FLAG(loss_nir_w_align, FLOAT, "0.01", "nir: weight of the ProxyAnchor term"),
    FLAG(loss_nir_proxy_lrmulti, FLOAT, "4000", "nir: proxy lr = lr * proxy_lrmulti"),
    FLAG(loss_nir_lrmulti, FLOAT, "50", "nir: flow lr = lr * lrmulti"),
    FLAG(loss_nir_logmatch, FLOAT, "1.0", "nir: unused (as the reference)"),
    FLAG(loss_nir_pos_alpha, FLOAT, "1.0", "nir: unused (as the reference)"),
    FLAG(loss_nir_neg_alpha, FLOAT, "1.0", "nir: unused (as the reference)"),
    FLAG(loss_nir_margin, FLOAT, "0.1", "nir: unused (as the reference)"),
    FLAG(loss_nir_delta, FLOAT, "0.2", "nir: unused (as the reference)"),
    FLAG(loss_nir_pair_perc, FLOAT, "1.0", "nir: unused (as the reference)"),
    FLAG(loss_nir_noise, FLOAT, "0", "nir: if > 0, x <- normalize(x + noise * U[0,1)) before the flow"),
    FLAG(loss_nir_nf_cond_mode, STR, "dense", "nir: conditioned coupling blocks: dense, start, mid, end"),
    FLAG(loss_nir_nf_fc_depth, INT, "8", "nir: Linear layers per coupling subnet"),
    FLAG(loss_nir_nf_fc_width, INT, "128", "nir: hidden width of the subnets"),
    FLAG(loss_nir_nf_cblocks, INT, "5", "nir: (permute + coupling) blocks"),
    FLAG(loss_nir_nf_fc_dropout, FLOAT, "0", "nir: unused (no dropout layer is built, as the reference)"),
    FLAG(loss_nir_nf_clamp_alpha, FLOAT, "2.0", "nir: coupling soft clamp"),
    FLAG(loss_nir_nf_fc_init, STR, "none", "nir: none (PyTorch default) or xavier"),
    FLAG(warmup, INT, "0", "nir: epochs with the backbone frozen (needs trainer support)"),
    FLAG(diva_decorrnet_dim, INT, "512", "adversarial_separation: hidden width of each regressor MLP (flag missing in the reference, BUG C5)"),
    FLAG(diva_decorrnet_lr, FLOAT, "1e-5", "adversarial_separation: lr of the regressors"),
    FLAG(diva_decorrelations, STRLIST, "0-1", "adversarial_separation: source-target pairs of embedding chunks (the embedding is cut into max index + 1 equal chunks)"),
    FLAG(diva_rho_decorrelation, FLOATLIST, "1500", "adversarial_separation: weight per pair (one value = every pair)"),
    /* W&B */
    FLAG(log_online, BOOL, "0", "stream to Weights & Biases (key from WANDB_API_KEY or ~/.netrc)"),
    FLAG(project, STR, "Sample_Project", "W&B project"),
    FLAG(group, STR, "Sample_Group", "run group (also the run folder prefix)"),
    FLAG(wandb_entity, STR, "", "W&B entity (default: the key's own)"),
  };
  size_t k = sizeof table / sizeof *table;
  DML_ASSERT(k <= cap);
  for (size_t i = 0; i < k; i++) out[i] = table[i];
  return k;
}

void dml_train_cli_init(struct dml_train_cli *tc, struct dml_train_opts *o, const struct dml_flag *extra,
                        size_t n_extra) {
  memset(tc, 0, sizeof *tc);
  tc->flags = xcalloc(DML_TRAIN_MAX_FLAGS + 1 + n_extra, sizeof *tc->flags);
  size_t n = dml_train_flags(o, tc->flags, DML_TRAIN_MAX_FLAGS);
  tc->flags[n++] = (struct dml_flag){"resume", DML_FLAG_STR, &o->resume, "",
                                     "continue the interrupted run in this folder (its configuration; flags given here override)"};
  for (size_t i = 0; i < n_extra; i++) tc->flags[n++] = extra[i];
  tc->cli.flags = tc->flags;
  tc->cli.n_flags = n;
}

void dml_train_cli_free(struct dml_train_cli *tc) {
  dml_flags_free(&tc->cli);
  free(tc->flags);
  memset(tc, 0, sizeof *tc);
}
