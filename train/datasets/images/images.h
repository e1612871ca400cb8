/* images — libdml_datasets, the image half of train/datasets: files → decoded 8-bit RGB → the reference's
 * torchvision transforms, to the pixel, fed by a pool of decode workers. It depends on common/ only (no trainer,
 * no eval, no faiss/curl), so dml-embed and dml-train both link it.
 *
 *   struct dml_transform t = dml_transform_for(arch, DML_AUG_EVAL, 0);   // Resize(256) → CenterCrop(224)
 *   dml_loader_t *L = dml_loader_create(4, NULL);                        // 4 decode workers, no cache
 *   struct dml_batch_req q = {.paths = paths, .count = n, .tf = &t, .seed = 1, .epoch = e, .pos0 = s * n,
 *                             .out = x};                                  // x (n, 3, crop, crop)
 *   int ticket = dml_loader_submit(L, &q);     // returns at once; workers decode while the caller computes
 *   if ((st = dml_loader_wait(L, ticket))) ...  // one line naming the bad file
 *   dml_loader_free(L);
 *
 * Decoding (decode.c) is PIL's Image.open(path).convert('RGB'): libjpeg-turbo with ISLOW IDCT and fancy
 * upsampling (PIL's settings), gray → replicated, CMYK/YCCK → PIL's cmyk2rgb (Adobe-inverted when the APP14
 * marker says so), libpng with palette expansion, alpha dropped (not composited), 16-bit channels cut to their
 * high byte except 16-bit gray, which PIL clips to 255 (its I;16 → L rule), no gamma. A header claiming more than
 * max_pixels (PIL's MAX_IMAGE_PIXELS = 89,478,485 by default) is refused before anything is allocated; a truncated
 * or corrupt file is an error naming it (PIL raises too).
 *
 * DCT-domain scaling (not in exact mode): when the source region a transform reads is at least 2× (4×, 8×) the
 * size it is resized to in both directions, a JPEG is decoded at 1/2 (1/4, 1/8) by libjpeg's scaled IDCT and the
 * region mapped onto the smaller image. This changes pixels against PIL (the scaled IDCT is a box-like filter,
 * PIL's bilinear resample a triangle) — only for JPEGs at least twice the size the transform needs: never for CUB's
 * ≤ 500-px images at 224/256, often for large CARS or user images. `exact` keeps PIL's pixels always.
 *
 * Transforms (transform.c), torchvision 0.14 + Pillow 9 semantics:
 *   eval  Resize(resize, shorter side; longer = int(resize·long/short)) → CenterCrop(crop; offsets
 *         int(round((size − crop)/2)), half to even; zero padding where the crop is larger)
 *   base  RandomResizedCrop(crop; scale (0.08, 1), ratio (3/4, 4/3), 10 attempts then the clamped centre crop)
 *         → RandomHorizontalFlip(0.5)
 *   adv   RandomResizedCrop → RandomGrayscale(0.2) → ColorJitter(0.2, 0.2, 0.2, 0.2; the four in a random order,
 *         PIL's ImageEnhance blends and HSV hue shift) → RandomHorizontalFlip
 *   red   Resize(resize) → RandomCrop(crop) → RandomHorizontalFlip
 * All resizing is PIL's antialiased BILINEAR (triangle filter widened by the scale, 22-bit fixed point, horizontal
 * then vertical pass, each rounded to uint8), computed only for the output pixels the crop keeps (so a 1×40000
 * image never materialises a 256×10,240,000 intermediate), by plain C, AVX2 or AVX-512 kernels chosen at run time
 * (resample.c; integer sums, so every kernel gives the same bytes). Then ToTensor (/255) → Normalize(mean, std) → channel
 * order reversed for BN-Inception. Random choices come from one counter-RNG stream per sample,
 * (seed, DML_RNG_AUGMENT, epoch, position in the epoch): a sample's pixels never depend on which worker ran it.
 *
 * Region decoding: without a cache, a JPEG sample decodes only the rows and columns its geometry reads (plus an
 * iMCU on each side, so fancy upsampling at the region's edges sees its full-decode neighbours), with libjpeg's
 * jpeg_crop_scanline / jpeg_skip_scanlines, stopping after the last row needed; the pixels are those of the full
 * decode (tested per subsampling, progressive, scale). Files whose data do not end with the EOI marker are decoded
 * whole, so a truncated file still fails as in PIL; damage below the last row read goes unseen (libjpeg treats
 * corrupt entropy data as a warning anyway, which the full decode ignores too).
 *
 * Cache (cache.c): with a cache folder, the decoded uint8 image of (file, size, mtime, DCT scale) is stored once as
 * <dir>/<hash>.rgb and memory-mapped afterwards; it holds exactly what the decoder returned (the whole image, never
 * a region), so it changes no pixel; a hit resamples straight from the mapping, nothing is copied.
 */
#ifndef DML_IMAGES_H
#define DML_IMAGES_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rng.h"

#define DML_IMAGE_MAX_PIXELS 89478485L /* PIL's Image.MAX_IMAGE_PIXELS */

// ---------------------------------------------------------------------------------------------- decoding

struct dml_image {
  uint8_t *rgb;           /* (h, w, 3) */
  int w, h;
  int scale;              /* 1, 2, 4, 8: decoded at 1/scale of the file's size */
  int full_w, full_h;     /* the file's size */
  int jpeg;               /* 1 for a JPEG (DCT scaling possible) */
  int off_x, off_y;       /* rgb holds pixels [off_x, off_x + w) × [off_y, off_y + h) of the decoded image */
  int dec_w, dec_h;       /* the decoded image's size (0: w × h, the whole image is held) */
  void *map;              /* non-NULL: rgb points into this mapping (cache) */
  size_t map_len;
};

/* Header only: the file's size and kind (1 JPEG, 2 PNG), without decoding pixels. Refuses non-images, empty files
 * and sizes over max_pixels (<= 0: DML_IMAGE_MAX_PIXELS). Errors name the path. */
dml_status dml_image_probe(const char *path, long max_pixels, int *w, int *h, int *kind);
/* Decode a JPEG/PNG (by content) at 1/scale (scale 1, 2, 4 or 8; PNGs and scale 1 decode at full size). */
dml_status dml_image_decode(const char *path, int scale, long max_pixels, struct dml_image *out);
void dml_image_free(struct dml_image *im);
/* PIL's Image.resize((ow, oh), BILINEAR) of a whole RGB image (no box). */
void dml_image_resize(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh);

// ---------------------------------------------------------------------------------------------- transforms

enum dml_aug { DML_AUG_EVAL, DML_AUG_BASE, DML_AUG_ADV, DML_AUG_RED };

struct dml_transform {
  enum dml_aug aug;
  int resize, crop;       /* 256 and 224 (227 googlenet, 256 with --augmentation big) */
  float mean[3], std[3];  /* in [0, 1] units, RGB order */
  int bgr;                /* reverse the channel order after normalising (BN-Inception) */
  int exact;              /* never DCT-scale (PIL's pixels always) */
  long max_pixels;        /* <= 0: DML_IMAGE_MAX_PIXELS */
  int kernels;            /* SIMD kernels at most: 0 the best this CPU runs, 1 plain C, 2 AVX2, 3 AVX-512 (the
                           * same pixels whatever the choice; for benchmarks) */
};

/* The reference's transform for an architecture (crop 227 for googlenet, BN-Inception's BGR range and mean) and
 * an augmentation name (base, adv, big, red; eval = 1 gives the evaluation transform of that recipe: with big the
 * centre crop is 256 too, as the reference's BaseDataset). DML_AUG_EVAL and crop 0 for an unknown augmentation. */
struct dml_transform dml_transform_for(const char *arch, const char *augmentation, int eval);

/* Where the pixels come from and go to: the source box [x0, x1) × [y0, y1) of the (full-size) image is resized to
 * ow × oh, of which the window (cx, cy, crop, crop) is kept (outside the resized image: zeros). */
struct dml_geom {
  double x0, y0, x1, y1;
  int ow, oh, cx, cy;
  int flip, gray;         /* horizontal flip; RandomGrayscale */
  int jitter;             /* ColorJitter applied: order[4] (0 brightness, 1 contrast, 2 saturation, 3 hue) */
  int order[4];
  double bright, contrast, saturation, hue;
};

/* The random draws a transform makes, so a test can replay torchvision's: uniform(lo, hi) and randint(lo, hi)
 * (both inclusive). dml_draws_rng draws from a counter-RNG stream. */
struct dml_draws {
  double (*uniform)(void *ctx, double lo, double hi);
  long (*randint)(void *ctx, long lo, long hi);
  void *ctx;
};
struct dml_draws dml_draws_rng(struct dml_rng *r);

/* RandomResizedCrop(scale (0.08, 1), ratio (3/4, 4/3)).get_params on a w × h image: top, left, height, width. */
void dml_rrc_params(int w, int h, const struct dml_draws *d, int *top, int *left, int *ch, int *cw);
/* The geometry of transform t on a w × h image with the given draws. */
void dml_transform_geom(const struct dml_transform *t, int w, int h, const struct dml_draws *d, struct dml_geom *g);
/* Apply geometry g to a decoded image: out (crop, crop, 3) uint8 after the PIL-level steps (resize, crop,
 * grayscale, jitter, flip). The image may be DCT-scaled (im->scale > 1): the box is mapped onto it. */
void dml_transform_pixels(const struct dml_transform *t, const struct dml_geom *g, const struct dml_image *im,
                          uint8_t *out);
/* The pixels [r[0], r[2]) × [r[1], r[3]) of an image decoded at 1/scale (dec_w × dec_h) that dml_transform_pixels
 * reads for geometry g: a decode of only that region gives the same output. */
void dml_transform_region(const struct dml_transform *t, const struct dml_geom *g, int scale, int dec_w, int dec_h,
                          int r[4]);
/* ToTensor + Normalize (+ BGR): out (3, crop, crop) float from (crop, crop, 3) uint8. */
void dml_transform_normalize(const struct dml_transform *t, const uint8_t *px, float *out);
/* The DCT scale (1, 2, 4, 8) a JPEG of w × h may be decoded at for geometry g (1 in exact mode). */
int dml_transform_scale(const struct dml_transform *t, const struct dml_geom *g, int w, int h);

/* One PIL-level colour operation in place on n RGB pixels: which = 0 brightness, 1 contrast, 2 saturation, 3 hue
 * (torchvision's F.adjust_*; factor as theirs), 4 grayscale (F.rgb_to_grayscale(img, 3); factor unused). */
void dml_transform_adjust(uint8_t *px, size_t n, int which, double factor);

/* The evaluation transform of an already decoded full-size image (dml-embed, tests): out (3, crop, crop). */
void dml_image_eval_transform(const uint8_t *rgb, int w, int h, const struct dml_transform *t, float *out);

// ---------------------------------------------------------------------------------------------- cache

typedef struct dml_image_cache dml_image_cache_t;
/* Open (creating it) a cache folder. */
dml_status dml_image_cache_open(const char *dir, dml_image_cache_t **out);
void dml_image_cache_close(dml_image_cache_t *c);
/* Hits and misses so far. */
void dml_image_cache_stats(const dml_image_cache_t *c, long *hits, long *misses);

// ---------------------------------------------------------------------------------------------- one sample

/* Everything for one sample: probe, draw the geometry from stream (seed, DML_RNG_AUGMENT, epoch, pos), decode
 * (through the cache, DCT-scaled if allowed), transform, normalise into out (3, crop, crop). */
dml_status dml_transform_file(const struct dml_transform *t, const char *path, uint64_t seed, uint64_t epoch,
                              uint64_t pos, dml_image_cache_t *cache, float *out);

// ---------------------------------------------------------------------------------------------- loader

struct dml_batch_req {
  const char *const *paths;       /* (count) */
  int count;
  const struct dml_transform *tf;
  uint64_t seed, epoch, pos0;     /* sample i uses position pos0 + i of the epoch */
  float *out;                     /* (count, 3, crop, crop) */
  int skip_bad;                   /* a file that fails to decode becomes a black image and is counted */
};

typedef struct dml_loader dml_loader_t;
/* workers >= 1 decode threads (0: dml_loader_wait decodes on the caller's thread); cache may be NULL. */
dml_loader_t *dml_loader_create(int workers, dml_image_cache_t *cache);
/* Queue a batch (the request and its paths must stay valid until waited for); returns its ticket. */
int dml_loader_submit(dml_loader_t *L, const struct dml_batch_req *req);
/* Block until the batch is done; the first failing sample (in batch order) gives the error, naming its file. */
dml_status dml_loader_wait(dml_loader_t *L, int ticket);
/* Samples replaced by black images so far (skip_bad). */
long dml_loader_bad(const dml_loader_t *L);
void dml_loader_free(dml_loader_t *L);

// ---------------------------------------------------------------------------------------------- folders

/* The entries of a folder, sorted by name (strcmp), skipping names that start with '.'. dirs/files: which kinds
 * to keep. A symlink is followed only when it stays inside `root` (a resolved path); a link that leaves it, a
 * loop or a dangling link is an error naming it. */
dml_status dml_list_dir(const char *root, const char *dir, int dirs, int files, char ***names, int *n);
void dml_free_names(char **names, int n);
/* Every file below dir (relative to dir, sorted), recursing into subfolders, refusing links that leave root
 * and folder cycles. */
dml_status dml_walk_files(const char *root, const char *dir, char ***names, int *n);
#endif
