/* make_tree — write a synthetic benchmark-shaped image tree (tests/datasets/gen.h) for benchmarks and demos:
 *   make_tree cub ROOT N_CLASSES PER_CLASS W H [vary]     → ROOT/cub200/images/...
 *   make_tree cars|sop|inshop ROOT ...                    (see gen.h for the arguments) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/datasets/gen.h"

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: make_tree cub|cars|sop|inshop ROOT A B W H [vary]\n");
    return 2;
  }
  int a = atoi(argv[3]), b = atoi(argv[4]), w = atoi(argv[5]), h = atoi(argv[6]), r;
  if (!strcmp(argv[1], "cub")) r = gen_cub(argv[2], a, b, w, h, argc > 7 ? atoi(argv[7]) : 1);
  else if (!strcmp(argv[1], "cars")) r = gen_cars(argv[2], a, b, w, h);
  else if (!strcmp(argv[1], "sop")) r = gen_sop(argv[2], a, b, argc > 7 ? atoi(argv[7]) : 3, w, h);
  else if (!strcmp(argv[1], "inshop")) r = gen_inshop(argv[2], a, b, w, h);
  else r = 2;
  if (r) fprintf(stderr, "make_tree: failed writing %s\n", argv[2]);
  return r ? 1 : 0;
}
