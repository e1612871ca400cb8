/* list (batchminer) — every miner of dml-train, one line each: DML_MINER(name) registers the definition
 * `dml_miner_def_<name>` that train/batchminer/<name>.c exports (see train/methods.h). The order is the order of
 * listings and of the method groups in `dml-train --help`. No include guard: train/registry.c expands it. */
DML_MINER(random)
DML_MINER(semihard)
DML_MINER(softhard)
DML_MINER(distance)
DML_MINER(rho_distance)
DML_MINER(npair)
DML_MINER(parametric)
DML_MINER(lifted)
DML_MINER(random_distance)
DML_MINER(intra_random)
DML_MINER(global_hardneg)
