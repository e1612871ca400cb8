/* The real criteria list plus the test's throwaway criterion (one line). */
#include "train/criteria/list.h"
DML_CRITERION(toy)
