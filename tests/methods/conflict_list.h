/* The real criteria list plus a criterion whose flag clashes with margin's (test_flag_conflict.c). */
#include "train/criteria/list.h"
DML_CRITERION(conflict)
