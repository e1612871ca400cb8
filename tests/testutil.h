/* testutil — the one comparison function and small helpers every test binary uses.
 *
 *   int fails = 0;
 *   fails += expect_close("loss", got, ref, n, 1e-6, 1e-5);
 *   fails += expect_true("tuple valid", ok);
 *   return test_report("test_margin", fails);   // non-zero exit on failure
 *
 * expect_close passes when every element satisfies |got - ref| <= atol + rtol*|ref|; on failure
 * (and always with DML_TEST_VERBOSE=1) it prints max abs/rel error, the worst index, the % of the
 * tolerance used and the first differing pairs. NaN in either operand is a failure unless both are NaN.
 */
#ifndef DML_TESTUTIL_H
#define DML_TESTUTIL_H
#include <stddef.h>

int expect_close(const char *name, const double *got, const double *ref, size_t n, double atol, double rtol);
int expect_close_f32(const char *name, const float *got, const float *ref, size_t n, double atol, double rtol);
int expect_scalar(const char *name, double got, double ref, double atol, double rtol);
int expect_true(const char *name, int cond);
int test_report(const char *test_name, int fails);
/* Run the program `bin` with args (NULL-terminated) in a child: stdout to /dev/null, stderr captured into err
 * (cap bytes, NUL-terminated), DML_PROGRESS=0. threads != NULL: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = threads
 * and `--kernels threads` appended after args (so it wins). wait_it = 0: return 0 at once with *pid_out set (the
 * caller waits; err is left untouched). Returns the exit status, or −signal. */
int test_spawn(const char *bin, char *const args[], const char *threads, char *err, size_t cap, int *pid_out,
               int wait_it);
/* A fresh empty temporary directory (mkdtemp under $TMPDIR or /tmp); the caller owns the string. */
char *test_tmpdir(const char *tag);
#endif
