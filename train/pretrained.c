/* pretrained — where the ImageNet weights of --arch come from, without a download (the reference fetches them
 * through torchvision / pretrainedmodels / timm on first use).
 *
 * Unless --not_pretrained: --pretrained FILE if given, else <dir>/<family>.safetensors with <dir> = $DML_WEIGHTS,
 * or ~/.cache/dml/weights/ when it is unset, and <family> the network family of --arch (resnet50, resnet18,
 * bninception, googlenet, densenet169; "_frozen", "_normalize", "_wN", … do not change the file). The mlp has no
 * ImageNet weights: nothing is looked up. A missing file is one line that names the file, the folder, a public
 * release of the weights, and --not_pretrained.
 *
 * Where this differs from the reference: --not_pretrained is honoured by every family here, while the reference
 * honours it only for resnet50 (its bninception and googlenet are always pretrained). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/train.h"

/* family prefix → the public safetensors release of torchvision's (or pretrainedmodels') ImageNet weights */
static const struct {
  const char *family, *release;
} families[] = {
  {"resnet50", "the model.safetensors of timm's resnet50.tv_in1k on the Hugging Face model hub"},
  {"resnet18", "the model.safetensors of timm's resnet18.tv_in1k on the Hugging Face model hub"},
  {"densenet169", "the model.safetensors of timm's densenet169.tv_in1k on the Hugging Face model hub"},
  {"googlenet", "torchvision's GoogLeNet_Weights.IMAGENET1K_V1 .pth converted with scripts/pth-to-safetensors "
                "(timm has no googlenet)"},
  {"bninception", "pretrainedmodels' bninception 'imagenet' .pth (the reference's weights) converted with "
                  "scripts/pth-to-safetensors (timm has no bninception)"},
};

const char *dml_pretrained_family(const char *arch) {
  for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
    size_t l = strlen(families[i].family);
    if (!strncmp(arch, families[i].family, l) && (arch[l] == 0 || arch[l] == '_')) return families[i].family;
  }
  return NULL;
}

char *dml_pretrained_dir(void) {
  const char *d = getenv("DML_WEIGHTS");
  if (d && *d) return xstrdup(d);
  const char *home = getenv("HOME");
  return dml_strfmt("%s/.cache/dml/weights", home && *home ? home : ".");
}

dml_status dml_pretrained_path(const struct dml_train_opts *o, char **path) {
  *path = NULL;
  if (o->not_pretrained) return DML_OK;
  if (o->pretrained && *o->pretrained) {
    if (access(o->pretrained, R_OK))
      return dml_error(DML_ERR_IO, "--pretrained %s: cannot read it: %s", o->pretrained, strerror(errno));
    *path = xstrdup(o->pretrained);
    return DML_OK;
  }
  const char *fam = dml_pretrained_family(o->arch);
  if (!fam) return DML_OK; /* mlp: no ImageNet weights exist */
  char *dir = dml_pretrained_dir();
  size_t l = strlen(dir);
  char *file = dml_strfmt("%s%s%s.safetensors", dir, l && dir[l - 1] == '/' ? "" : "/", fam);
  if (!access(file, R_OK)) {
    free(dir);
    *path = file;
    return DML_OK;
  }
  const char *release = "";
  for (size_t i = 0; i < sizeof families / sizeof *families; i++)
    if (!strcmp(families[i].family, fam)) release = families[i].release;
  const char *env = getenv("DML_WEIGHTS");
  dml_status st = dml_error(DML_ERR_IO,
                            "--arch %s starts from ImageNet weights, but %s is missing: put %s.safetensors "
                            "(torchvision/timm tensor names) into %s (%s), or pass --pretrained FILE; a public "
                            "release: %s; --not_pretrained trains from scratch",
                            o->arch, file, fam, dir, env && *env ? "the folder $DML_WEIGHTS names" :
                            "the default folder; $DML_WEIGHTS sets another", release);
  free(dir);
  free(file);
  return st;
}
