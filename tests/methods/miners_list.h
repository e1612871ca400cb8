/* The real miners list plus the test's throwaway miner (one line). */
#include "train/batchminer/list.h"
DML_MINER(toy)
