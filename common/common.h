/* common — what every dml program shares. Include this one header. */
#ifndef DML_COMMON_H
#define DML_COMMON_H
#include "common/error.h"
#include "common/rng.h"
#include "common/flags.h"
#include "common/progress.h"
#include "common/runrecord.h"
#endif
