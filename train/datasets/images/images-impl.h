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
/* Cache: a hit maps the stored decode (out->scale says at which scale); 0 = miss. */
int dml_image_cache_lookup(dml_image_cache_t *c, const char *path, struct dml_image *out);
/* Store a decode (errors are ignored: the cache is an accelerator, never a source of failures). */
void dml_image_cache_store(dml_image_cache_t *c, const char *path, const struct dml_image *im);
#endif
