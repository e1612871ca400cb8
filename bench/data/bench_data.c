/* bench_data — images/s per core of the data pipeline's per-sample work (read + decode + transform + normalise) on a
 * folder of images, on the calling thread only (so per core): the training transform (RandomResizedCrop(224) +
 * HorizontalFlip + ToTensor + Normalize) or the evaluation transform (Resize(256) + CenterCrop(224) + ToTensor +
 * Normalize), optionally through a warm --cache_dir. Rates are images per CPU-second of this process
 * (CLOCK_PROCESS_CPUTIME_ID: per core, and not inflated or deflated by other processes taking turns on the core).
 * Prints one line "mode cache n img_per_s isa" for compare.py, which runs PIL + torchvision on the same files;
 * isa is the resampling kernel set this CPU runs (avx512, avx2 or scalar).
 *
 *   dml-bench-data --images DIR --mode train|eval [--cache_dir D] [--passes 2] [--exact] [--kernels avx2]
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/flags.h"
#include "train/datasets/images/images-impl.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  struct {
    char *images, *mode, *cache_dir, *kernels;
    int passes, exact;
  } o;
  const struct dml_flag flags[] = {
    {"images", DML_FLAG_STR, &o.images, "", "folder of images (searched recursively)"},
    {"mode", DML_FLAG_STR, &o.mode, "train", "train (RandomResizedCrop + flip) or eval (Resize + CenterCrop)"},
    {"cache_dir", DML_FLAG_STR, &o.cache_dir, "", "decoded-image cache: filled by an untimed pass, then timed warm"},
    {"passes", DML_FLAG_INT, &o.passes, "2", "timed passes over the files"},
    {"exact", DML_FLAG_BOOL, &o.exact, "0", "PIL-exact decoding (no DCT scaling)"},
    {"kernels", DML_FLAG_STR, &o.kernels, "best", "SIMD kernels at most: best, avx512, avx2 or scalar"},
  };
  struct dml_cli cli = {.prog = "dml-bench-data", .summary = "images/s per core of the data pipeline",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  char root[PATH_MAX];
  if (!realpath(o.images, root)) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "no folder %s", o.images));
  char **names;
  int n;
  dml_exit_on_error(cli.prog, dml_walk_files(root, root, &names, &n));
  char **paths = xmalloc(((size_t)n + 1) * sizeof *paths);
  for (int i = 0; i < n; i++) paths[i] = dml_strfmt("%s/%s", root, names[i]);
  if (strcmp(o.mode, "train") && strcmp(o.mode, "eval"))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--mode %s: expected train or eval", o.mode));
  if (n == 0) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "no image files under %s", root));
  if (o.passes < 1) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--passes %d: expected at least 1", o.passes));
  const char *kn[] = {"best", "scalar", "avx2", "avx512"};
  int kernels = -1;
  for (int k = 0; k < 4; k++)
    if (!strcmp(o.kernels, kn[k])) kernels = k;
  if (kernels < 0)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--kernels %s: expected best, avx512, avx2 or scalar", o.kernels));
  enum dml_isa isa = dml_image_isa();
  if (kernels > 0 && kernels - 1 < (int)isa) isa = (enum dml_isa)(kernels - 1);
  int train = !strcmp(o.mode, "train");
  struct dml_transform t = dml_transform_for("resnet50", "base", !train);
  t.exact = o.exact;
  t.kernels = kernels;
  dml_image_cache_t *cache = NULL;
  if (*o.cache_dir) dml_exit_on_error(cli.prog, dml_image_cache_open(o.cache_dir, &cache));
  float *x = xmalloc((size_t)3 * t.crop * t.crop * sizeof *x);
  if (cache) /* fill (untimed) */
    for (int i = 0; i < n; i++) dml_exit_on_error(cli.prog, dml_transform_file(&t, paths[i], 1, 0, (uint64_t)i, cache, x));
  double t0 = now();
  for (int p = 0; p < o.passes; p++)
    for (int i = 0; i < n; i++)
      dml_exit_on_error(cli.prog, dml_transform_file(&t, paths[i], 1, (uint64_t)p, (uint64_t)i, cache, x));
  double secs = now() - t0;
  printf("%s %s %d %.1f %s\n", o.mode, cache ? "warm" : "none", n * o.passes, n * o.passes / secs,
         dml_image_isa_name(isa));
  dml_image_cache_close(cache);
  for (int i = 0; i < n; i++) free(paths[i]);
  free(paths);
  dml_free_names(names, n);
  free(x);
  dml_flags_free(&cli);
  return 0;
}
