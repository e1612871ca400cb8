/* The real samplers list plus the test's throwaway sampler (one line). */
#include "train/datasampler/list.h"
DML_SAMPLER(toy)
