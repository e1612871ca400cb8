/* images-impl.h — internal to libdml_datasets: decoding from a buffer already read (one read per sample: the
 * header decides the geometry, the geometry the DCT scale, then the same bytes are decoded). */
#ifndef DML_IMAGES_IMPL_H
#define DML_IMAGES_IMPL_H
#include "train/datasets/images/images.h"

/* The whole file into *buf (heap, *n bytes). */
dml_status dml_image_read_file(const char *path, unsigned char **buf, size_t *n);
/* Size of the image in buf (JPEG/PNG header), refusing sizes over max_pixels. */
dml_status dml_image_header(const char *path, const unsigned char *buf, size_t n, long max_pixels, int *w, int *h);
/* Decode buf at 1/scale (JPEG; PNG at full size). */
dml_status dml_image_decode_buf(const char *path, const unsigned char *buf, size_t n, int scale, long max_pixels,
                                struct dml_image *out);
/* Decode only the region [r[0], r[2]) × [r[1], r[3]) (coordinates of the image at 1/scale) and what surrounds it
 * by an iMCU, pixel for pixel what the full decode gives there (out->off_x, off_y, dec_w, dec_h say where); PNGs,
 * files not ending with the EOI marker and anything libjpeg complains about are decoded whole instead. */
dml_status dml_image_decode_region(const char *path, const unsigned char *buf, size_t n, int scale, long max_pixels,
                                   const int r[4], struct dml_image *out);
/* Cache: a hit maps the stored decode (out->scale says at which scale); 0 = miss. */
int dml_image_cache_lookup(dml_image_cache_t *c, const char *path, struct dml_image *out);
/* Store a decode (errors are ignored: the cache is an accelerator, never a source of failures). */
void dml_image_cache_store(dml_image_cache_t *c, const char *path, const struct dml_image *im);

// ---------------------------------------------------------------------------------------------- resampling

/* The kernel sets of resample.c; every one gives the same bytes (integer sums). */
enum dml_isa { DML_ISA_SCALAR, DML_ISA_AVX2, DML_ISA_AVX512 };
/* The best set this CPU runs: AVX-512 (F + BW), AVX2 or plain C. */
enum dml_isa dml_image_isa(void);
const char *dml_image_isa_name(enum dml_isa isa);

/* Pixels [x0, x0 + w) × [y0, y0 + h) of an RGB image of full_w × full_h, px pointing at pixel (x0, y0). */
struct dml_rgb_view {
  const uint8_t *px; /* (h, stride bytes) */
  size_t stride;
  int x0, y0, w, h, full_w, full_h;
};

/* PIL's Image.resize((ow, oh), BILINEAR, box=(bx0, by0, bx1, by1)) of the full image, but only the window
 * [wx, wx + wn) × [wy, wy + wm) of the output is computed, into out (wm, wn, 3); output pixels outside ow × oh are
 * zeros. The view must hold every input pixel the window reads (dml_resample_span gives them; asserted). */
void dml_resample_window(const struct dml_rgb_view *v, double bx0, double by0, double bx1, double by1, int ow,
                         int oh, int wx, int wy, int wn, int wm, uint8_t *out, enum dml_isa isa);
/* The input indices [lo, hi) that output indices [o0, o0 + on) of a resize of [in0, in1) (of in_size) to out_size
 * read (both 0 when none). */
void dml_resample_span(int in_size, double in0, double in1, int out_size, int o0, int on, int *lo, int *hi);
#endif
