/* cache — the on-disk decoded-image cache: <dir>/<hash>.rgb holds exactly what the decoder returned for a file
 * (keyed by its path, size and modification time), memory-mapped on later reads; see images.h. Writes go to a
 * temporary name and are renamed into place, so a killed run never leaves a half-written entry; any cache
 * failure falls back to decoding (the cache never makes a run fail). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/datasets/images/images-impl.h"

enum { HEADER = 32 };
static const char MAGIC[8] = "DMLIMG1";

struct dml_image_cache {
  char *dir;
  pthread_mutex_t mu;
  long hits, misses;
};

dml_status dml_image_cache_open(const char *dir, dml_image_cache_t **out) {
  if (mkdir(dir, 0777) && errno != EEXIST) return dml_error(DML_ERR_IO, "cannot create --cache_dir %s: %s", dir, strerror(errno));
  struct stat sb;
  if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) return dml_error(DML_ERR_IO, "--cache_dir %s is not a folder", dir);
  if (access(dir, W_OK)) return dml_error(DML_ERR_IO, "--cache_dir %s is not writable", dir);
  dml_image_cache_t *c = xcalloc(1, sizeof *c);
  c->dir = xstrdup(dir);
  pthread_mutex_init(&c->mu, NULL);
  *out = c;
  return DML_OK;
}

void dml_image_cache_close(dml_image_cache_t *c) {
  if (!c) return;
  pthread_mutex_destroy(&c->mu);
  free(c->dir);
  free(c);
}

void dml_image_cache_stats(const dml_image_cache_t *c, long *hits, long *misses) {
  *hits = c ? c->hits : 0;
  *misses = c ? c->misses : 0;
}

/* FNV-1a over the path, size and mtime: the entry's name */
static char *entry_name(dml_image_cache_t *c, const char *path) {
  struct stat sb;
  if (stat(path, &sb)) return NULL;
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) h = (h ^ *p) * 1099511628211ull;
  uint64_t v[3] = {(uint64_t)sb.st_size, (uint64_t)sb.st_mtim.tv_sec, (uint64_t)sb.st_mtim.tv_nsec};
  for (int i = 0; i < 3; i++)
    for (int b = 0; b < 8; b++) h = (h ^ ((v[i] >> (8 * b)) & 0xff)) * 1099511628211ull;
  return dml_strfmt("%s/%016llx.rgb", c->dir, (unsigned long long)h);
}

int dml_image_cache_lookup(dml_image_cache_t *c, const char *path, struct dml_image *out) {
  char *name = entry_name(c, path);
  int fd = name ? open(name, O_RDONLY) : -1;
  free(name);
  struct stat sb;
  void *map = MAP_FAILED;
  if (fd >= 0 && !fstat(fd, &sb) && sb.st_size > HEADER)
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0); /* one fault-in, not one per page */
  if (fd >= 0) close(fd);
  int ok = 0;
  if (map != MAP_FAILED) {
    const unsigned char *m = map;
    uint32_t f[6];
    memcpy(f, m + 8, sizeof f);
    ok = !memcmp(m, MAGIC, 8) && (size_t)sb.st_size == HEADER + (size_t)f[0] * f[1] * 3;
    if (ok) {
      memset(out, 0, sizeof *out);
      out->rgb = (uint8_t *)m + HEADER;
      out->w = (int)f[0], out->h = (int)f[1], out->full_w = (int)f[2], out->full_h = (int)f[3];
      out->scale = (int)f[4], out->jpeg = (int)f[5];
      out->map = map, out->map_len = (size_t)sb.st_size;
    } else {
      munmap(map, (size_t)sb.st_size);
    }
  }
  pthread_mutex_lock(&c->mu);
  if (ok) c->hits++;
  else c->misses++;
  pthread_mutex_unlock(&c->mu);
  return ok;
}

void dml_image_cache_store(dml_image_cache_t *c, const char *path, const struct dml_image *im) {
  char *name = entry_name(c, path);
  if (!name) return;
  char *tmp = dml_strfmt("%s.tmp.%ld.%lx", name, (long)getpid(), (unsigned long)pthread_self());
  FILE *f = fopen(tmp, "wb");
  int ok = f != NULL;
  if (ok) {
    unsigned char h[HEADER] = {0};
    uint32_t v[6] = {(uint32_t)im->w, (uint32_t)im->h, (uint32_t)im->full_w, (uint32_t)im->full_h,
                     (uint32_t)im->scale, (uint32_t)im->jpeg};
    memcpy(h, MAGIC, 8);
    memcpy(h + 8, v, sizeof v);
    size_t n = (size_t)im->w * im->h * 3;
    ok = fwrite(h, 1, HEADER, f) == HEADER && fwrite(im->rgb, 1, n, f) == n;
    ok &= fclose(f) == 0;
  }
  if (!ok || rename(tmp, name)) remove(tmp);
  free(tmp);
  free(name);
}
