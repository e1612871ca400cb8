/* image — decoding JPEG (libjpeg-turbo's TurboJPEG API) and PNG (libpng) into 8-bit RGB, and the reference's
 * evaluation transform with torchvision/PIL semantics:
 *   Resize(resize, shorter side; PIL bilinear with its antialiasing support and 22-bit fixed-point arithmetic,
 *   horizontal pass then vertical, each rounded to uint8) → CenterCrop(crop; offsets round((size−crop)/2), half
 *   to even) → ToTensor (/255) → Normalize(mean, std) [→ channel order reversed for BN-Inception].
 *
 *   uint8_t *rgb; int w, h;
 *   dml_image_load("a.jpg", &rgb, &w, &h);            // free(rgb)
 *   struct dml_image_norm n = dml_image_norm_for_arch("resnet50");
 *   float *x = xmalloc(3 * n.crop * n.crop * sizeof *x);
 *   dml_image_eval_transform(rgb, w, h, &n, x);       // (3, crop, crop), CHW
 */
#ifndef DML_IMAGE_H
#define DML_IMAGE_H
#include <stdint.h>

#include "common/error.h"

struct dml_image_norm {
  int resize, crop;       /* 256, 224 (227 for googlenet) */
  float mean[3], std[3];  /* in [0,1] units, RGB order */
  int bgr;                /* reverse the channel order after normalising (BN-Inception) */
};

/* The reference's evaluation transform for an architecture name (A5). */
struct dml_image_norm dml_image_norm_for_arch(const char *arch);
/* Decode a .jpg/.jpeg/.png file (by content) into RGB (h·w·3, row-major). Gray and palette images are expanded;
 * PNG alpha is dropped (PIL's convert('RGB')). DML_ERR_IO / DML_ERR_FORMAT naming the file otherwise. */
dml_status dml_image_load(const char *path, uint8_t **rgb, int *w, int *h);
/* PIL's Image.resize((ow, oh), BILINEAR) on RGB. */
void dml_image_resize(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh);
/* The evaluation transform into out (3, crop, crop). Images smaller than the crop after resizing are padded with
 * zeros as torchvision's CenterCrop does. */
void dml_image_eval_transform(const uint8_t *rgb, int w, int h, const struct dml_image_norm *n, float *out);
#endif
