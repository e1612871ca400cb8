/* network — the architecture registry: parses the --arch string (family prefix + suffixes), dispatches init /
 * reset / forward / free to the family (mlp.c, resnet.c), and owns what every family shares (the buffer table,
 * the input geometry, the arena estimate). See nn.h for the accepted names. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/nn/nn.h"

dml_status dml_mlp_init(struct dml_network *net);
void dml_mlp_reset(struct dml_network *net, uint64_t seed);
struct dml_tensor *dml_mlp_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);
dml_status dml_resnet_init(struct dml_network *net);
void dml_resnet_reset(struct dml_network *net, uint64_t seed);
struct dml_tensor *dml_resnet_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);
dml_status dml_googlenet_init(struct dml_network *net);
void dml_googlenet_reset(struct dml_network *net, uint64_t seed);
struct dml_tensor *dml_googlenet_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);
void dml_googlenet_free(struct dml_network *net);
dml_status dml_bninception_init(struct dml_network *net);
void dml_bninception_reset(struct dml_network *net, uint64_t seed);
struct dml_tensor *dml_bninception_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);
dml_status dml_densenet_init(struct dml_network *net);
void dml_densenet_reset(struct dml_network *net, uint64_t seed);
struct dml_tensor *dml_densenet_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);

static const struct dml_arch archs[] = {
  {"mlp", dml_mlp_init, dml_mlp_reset, dml_mlp_forward, NULL},
  {"resnet18", dml_resnet_init, dml_resnet_reset, dml_resnet_forward, NULL},
  {"resnet50", dml_resnet_init, dml_resnet_reset, dml_resnet_forward, NULL},
  {"googlenet", dml_googlenet_init, dml_googlenet_reset, dml_googlenet_forward, dml_googlenet_free},
  {"bninception", dml_bninception_init, dml_bninception_reset, dml_bninception_forward, NULL},
  {"densenet169", dml_densenet_init, dml_densenet_reset, dml_densenet_forward, NULL},
};
#define KNOWN "mlp, resnet18, resnet50, googlenet, bninception, densenet169 (suffixes _frozen, _normalize, _max, _double, _he, _wN)"

/* the suffixes after the prefix: each "_word" must be known */
static dml_status parse_suffixes(struct dml_network *net, const char *rest) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", rest);
  for (char *tok = strtok(buf, "_"); tok; tok = strtok(NULL, "_")) {
    if (!strcmp(tok, "normalize")) net->normalize = 1;
    else if (!strcmp(tok, "frozen")) net->frozen = 1;
    else if (!strcmp(tok, "max") || !strcmp(tok, "mac")) net->pool = DML_POOL_MAX;
    else if (!strcmp(tok, "double") || !strcmp(tok, "both")) net->pool = DML_POOL_MAX | DML_POOL_AVG;
    else if (!strcmp(tok, "avg") || !strcmp(tok, "spoc")) net->pool = DML_POOL_AVG;
    else if (!strcmp(tok, "he") && !strncmp(net->arch, "bninception", 11)) continue; /* head init, read by the arch */
    else if (tok[0] == 'w' && tok[1] >= '1' && tok[1] <= '9' && strspn(tok + 1, "0123456789") == strlen(tok + 1) &&
             atoi(tok + 1) <= 4096)
      net->base_width = atoi(tok + 1);
    else
      return dml_error(DML_ERR_ARG, "unknown suffix '_%s' in --arch '%s' (known: %s)", tok, net->arch, KNOWN);
  }
  return DML_OK;
}

dml_status dml_network_init(struct dml_network *net, struct dml_params *ps, const char *arch, int in_dim,
                            int embed_dim) {
  memset(net, 0, sizeof *net);
  const struct dml_arch *a = NULL;
  for (size_t i = 0; i < sizeof archs / sizeof *archs && !a; i++) {
    size_t l = strlen(archs[i].prefix);
    if (!strncmp(arch, archs[i].prefix, l) && (arch[l] == 0 || arch[l] == '_')) a = &archs[i];
  }
  if (!a) return dml_error(DML_ERR_ARG, "unknown --arch '%s' (known in this build: %s)", arch, KNOWN);
  if (strlen(arch) >= sizeof net->arch) return dml_error(DML_ERR_ARG, "--arch '%s' is too long", arch);
  if (embed_dim < 1) return dml_error(DML_ERR_ARG, "--embed_dim must be >= 1, got %d", embed_dim);
  if (in_dim < 1) return dml_error(DML_ERR_ARG, "input dimension must be >= 1, got %d", in_dim);
  snprintf(net->arch, sizeof net->arch, "%s", arch);
  net->pool = DML_POOL_AVG;
  net->base_width = 64;
  dml_status st = parse_suffixes(net, arch + strlen(a->prefix));
  if (st) return st;
  if (a->init == dml_mlp_init && (net->frozen || net->pool != DML_POOL_AVG || net->base_width != 64))
    return dml_error(DML_ERR_ARG, "--arch '%s': mlp takes only the suffix _normalize", arch);
  net->in_dim = in_dim;
  net->embed_dim = embed_dim;
  net->ps = ps;
  net->impl = a;
  /* a flattened RGB square image unless told otherwise */
  int side = (int)lround(sqrt(in_dim / 3.0));
  if (3 * side * side == in_dim) {
    net->channels = 3;
    net->height = net->width = side;
  } else {
    int s1 = (int)lround(sqrt((double)in_dim));
    net->channels = 1;
    net->height = net->width = s1 * s1 == in_dim ? s1 : 1;
    if (s1 * s1 != in_dim) net->width = in_dim;
  }
  net->buffers = xcalloc(1, sizeof *net->buffers);
  dml_params_init(net->buffers, ps->be);
  if ((st = a->init(net))) {
    dml_network_free(net);
    return st;
  }
  dml_params_alloc(net->buffers);
  return DML_OK;
}

dml_status dml_network_set_input(struct dml_network *net, int channels, int height, int width) {
  if (channels < 1 || height < 1 || width < 1 || (long)channels * height * width != net->in_dim)
    return dml_error(DML_ERR_ARG, "input geometry %d×%d×%d does not match the input dimension %d", channels, height,
                     width, net->in_dim);
  if (net->impl && net->impl->init != dml_mlp_init && channels != 3)
    return dml_error(DML_ERR_ARG, "--arch %s needs RGB input (3 channels), got %d", net->arch, channels);
  if (net->impl && net->impl->init != dml_mlp_init && (height < 32 || width < 32))
    return dml_error(DML_ERR_ARG, "--arch %s needs images of at least 32×32, got %d×%d", net->arch, height, width);
  net->channels = channels;
  net->height = height;
  net->width = width;
  return DML_OK;
}

void dml_network_reset_parameters(struct dml_network *net, uint64_t seed) { net->impl->reset(net, seed); }

struct dml_tensor *dml_network_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x) {
  return net->impl->forward(net, t, x);
}

void dml_network_free(struct dml_network *net) {
  if (net->impl && net->impl->free) net->impl->free(net);
  else free(net->state); /* a family whose layer table is one heap block needs no free of its own */
  if (net->buffers) {
    dml_params_free(net->buffers);
    free(net->buffers);
  }
  net->buffers = NULL;
  net->state = NULL;
}

size_t dml_network_arena_bytes_for(const struct dml_network *net, int B, int prec, int training) {
  /* a counting dry run of one step: every arena allocation of the forward (activations, saved statistics,
   * indices, bf16 copies) and, when training, of the backward (gradients); nothing computed or changed */
  struct dml_network *n = (struct dml_network *)net; /* the forward reads the network, it does not change it */
  struct dml_tape t;
  dml_tape_init_counting(&t, net->ps->be, prec);
  t.seed = 1;
  t.record = training;
  struct dml_tensor *x = dml_tape_input(&t, NULL, B, net->in_dim);
  struct dml_tensor *z = dml_network_forward(n, &t, x);
  if (training) {
    dml_tape_need_grad(&t, z);
    dml_tape_backward(&t);
  }
  size_t peak = t.arena.peak;
  dml_tape_free(&t);
  return peak + 4096; /* the arena base is 64-byte aligned already: a page of slack */
}

size_t dml_network_arena_bytes(const struct dml_network *net, int B) {
  return dml_network_arena_bytes_for(net, B, DML_FP32, 1);
}

void dml_network_declare_head(struct dml_network *net, int feat_dim, int *w, int *b) {
  net->feat_dim = feat_dim;
  *w = dml_params_declare(net->ps, "last_linear.weight", 2, (int[]){net->embed_dim, feat_dim}, 1, 0);
  *b = dml_params_declare(net->ps, "last_linear.bias", 1, (int[]){net->embed_dim}, 1, 0);
}

void dml_network_declare_bn(struct dml_network *net, const char *bn, int channels, int *gamma, int *beta, int *rmean,
                            int *rvar) {
  char n[200];
  snprintf(n, sizeof n, "%s.weight", bn);
  *gamma = dml_params_declare(net->ps, n, 1, (int[]){channels}, 1, 0);
  snprintf(n, sizeof n, "%s.bias", bn);
  *beta = dml_params_declare(net->ps, n, 1, (int[]){channels}, 1, 0);
  snprintf(n, sizeof n, "%s.running_mean", bn);
  *rmean = dml_params_declare(net->buffers, n, 1, (int[]){channels}, 0, 0);
  snprintf(n, sizeof n, "%s.running_var", bn);
  *rvar = dml_params_declare(net->buffers, n, 1, (int[]){channels}, 0, 0);
}

void dml_network_reset_buffers(struct dml_network *net) {
  struct dml_params *bs = net->buffers;
  for (int i = 0; bs && i < bs->n; i++) {
    struct dml_param *p = &bs->p[i];
    float *h = xmalloc(p->n * sizeof *h), v = strstr(p->name, "running_var") ? 1.0f : 0.0f;
    for (size_t k = 0; k < p->n; k++) h[k] = v;
    bs->be->fn.to_device(bs->be->ctx, p->t.data, h, p->n * sizeof *h);
    free(h);
  }
}
