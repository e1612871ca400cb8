/* options — the flag table of dml-train: reference names and defaults (spec A1), in the reference's group
 * order (basic, batch creation, batch mining, loss, W&B), plus a few of ours marked "(dml)". */
#include "train/train.h"

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
    FLAG(data_sampler, STR, "class_random", "batch sampler: class_random"),
    FLAG(samples_per_class, INT, "2", "samples per class in a batch"),
    /* batch mining */
    FLAG(miner_distance_lower_cutoff, FLOAT, "0.5", "distance miner: lower distance cutoff"),
    FLAG(miner_distance_upper_cutoff, FLOAT, "1.4", "distance miner: upper cutoff (never applied, as in the reference)"),
    /* loss */
    FLAG(loss_margin_margin, FLOAT, "0.2", "margin loss: alpha"),
    FLAG(loss_margin_beta_lr, FLOAT, "5e-4", "margin loss: learning rate of beta"),
    FLAG(loss_margin_beta, FLOAT, "1.2", "margin loss: initial beta"),
    FLAG(loss_margin_nu, FLOAT, "0", "margin loss: beta regulariser weight (reference crashes when != 0; fixed)"),
    FLAG(loss_margin_beta_constant, BOOL, "0", "margin loss: beta is a constant"),
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
