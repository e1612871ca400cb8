/* fuzz_image — the JPEG/PNG path of libdml_datasets (train/datasets/images/decode.c): the header (geometry,
 * pixel cap before any allocation), then the decode of the same bytes at scale 1 and 2, from memory, whole and as
 * a region (the middle third, the path of uncached training samples). */
#include "fuzz.h"
#include "train/datasets/images/images-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int w = 0, h = 0;
  const long cap = 1L << 22; /* 4 Mpixel: the fuzzer must not spend its time on legitimately huge images */
  if (!dml_image_header("fuzz.img", data, size, cap, &w, &h)) {
    for (int scale = 1; scale <= 2; scale++) {
      struct dml_image im;
      memset(&im, 0, sizeof im);
      if (!dml_image_decode_buf("fuzz.img", data, size, scale, cap, &im)) dml_image_free(&im);
      int sw = (w + scale - 1) / scale, sh = (h + scale - 1) / scale, r[4] = {sw / 3, sh / 3, 2 * sw / 3 + 1, 2 * sh / 3 + 1};
      memset(&im, 0, sizeof im);
      if (!dml_image_decode_region("fuzz.img", data, size, scale, cap, r, &im)) dml_image_free(&im);
    }
  }
  dml_error_clear();
  return 0;
}
