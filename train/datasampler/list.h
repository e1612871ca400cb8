/* list (datasampler) — every batch sampler of dml-train, one line each: DML_SAMPLER(name) registers the
 * definition `dml_sampler_def_<name>` that train/datasampler/<name>.c exports (see train/methods.h). The order is
 * the order of listings and of the method groups in `dml-train --help`. No include guard: train/registry.c
 * expands it. */
DML_SAMPLER(class_random)
DML_SAMPLER(full_random)
DML_SAMPLER(greedy_coreset)
DML_SAMPLER(d2_coreset)
DML_SAMPLER(disthist_batchmatch)
DML_SAMPLER(global_hardneg)
