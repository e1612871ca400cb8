#!/usr/bin/env bash
# presets_dry_run — every dml-train line of every script in runs/presets/ goes through dml-train's flag parser
# and checks (issue 10, point 7): each preset runs with a stand-in dml-train that only collects its lines, then
# one `dml-train --dry_run_lines FILE --dry_run_skip_data` dry-runs them all (flags, method and dataset names,
# loss/miner pairs, --bs / --samples_per_class, the architecture and the weights lookup) without looking at the
# data (the presets' DATAPATH does not exist). The weights folder holds empty stand-ins for the ImageNet files:
# the dry run checks that the file is there. Lines are counted per preset against the numbers the scripts
# promise; every line must pass; a few bad lines must be refused.
# With MAKE_TREE (tests/datasets' generator) the lines of one seed are also dry-run on synthetic CUB-, CARS- and
# SOP-shaped trees, which loads each dataset's index and checks its layout as a run would.
# Usage: presets_dry_run.sh DML_TRAIN [MAKE_TREE] (from the repository root)
set -euo pipefail
real=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/weights"
for f in resnet50 resnet18 bninception googlenet densenet169; do : > "$tmp/weights/$f.safetensors"; done
export DML_WEIGHTS="$tmp/weights" DML_PROGRESS=0 LINES="$tmp/lines"
# the stand-in every preset calls instead of dml-train: it records the line
printf '#!/bin/sh\necho "dml-train $*" >> "$LINES"\n' > "$tmp/bin/dml-train"
printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/dml-aggregate"
cp "$tmp/bin/dml-aggregate" "$tmp/bin/dml-table"
chmod +x "$tmp/bin/"*

fail=0
check() { # preset expected_lines
  : > "$LINES"
  DML="$tmp/bin/dml-train" BIN="$tmp/bin" OUT="$tmp/out" DATAPATH="$tmp/no-datasets" bash "runs/presets/$1" > /dev/null
  "$real" --dry_run_lines "$LINES" --dry_run_skip_data > "$tmp/result" 2>&1 || true
  local n ok
  n=$(wc -l < "$LINES"); ok=$(grep -c '^line [0-9]*: ok$' "$tmp/result" || true)
  echo "$1: $n dml-train lines, $ok pass the dry run"
  grep '^line [0-9]*: error: ' "$tmp/result" | head -5 || true
  [ "$n" -eq "$2" ] || { echo "FAIL: $1 has $n dml-train lines, expected $2"; fail=1; }
  [ "$ok" -eq "$n" ] || { echo "FAIL: $1: not every line passed"; tail -1 "$tmp/result"; fail=1; }
}
check revisit_icml2020.sh 335
check nir_cvpr2022.sh 14
check reference_readme.sh 3
check fashion_mnist.sh 10
for f in runs/presets/*.sh; do
  case $(basename "$f") in revisit_icml2020.sh|nir_cvpr2022.sh|reference_readme.sh|fashion_mnist.sh) ;;
    *) echo "FAIL: $f is not checked here; add it"; fail=1 ;; esac
done

# with the data: the same lines (one seed) on synthetic CUB-, CARS- and SOP-shaped trees (make_tree, the dataset
# tests' generator), so that the dry run also loads every dataset index the presets name, as a run would
if [ -n "${2:-}" ]; then
  "$2" cub "$tmp/data" 200 2 16 16 0 && "$2" cars "$tmp/data" 196 2 16 16 && "$2" sop "$tmp/data" 4 60 16 16 2
  : > "$LINES"
  for p in revisit_icml2020.sh nir_cvpr2022.sh reference_readme.sh; do
    SEEDS=0 DML="$tmp/bin/dml-train" DATAPATH="$tmp/data" bash "runs/presets/$p" > /dev/null
  done
  n=$(wc -l < "$LINES")
  if "$real" --dry_run_lines "$LINES" > "$tmp/result" 2>&1 && grep -q "dry run of $n lines: $n ok" "$tmp/result"; then
    echo "with synthetic trees: $n lines (one seed) checked with their datasets:"
    grep "^dry run: dataset" "$tmp/result" | sort | uniq -c
  else
    echo "FAIL: with synthetic trees:"; grep '^line [0-9]*: error' "$tmp/result" | head -5; tail -1 "$tmp/result"; fail=1
  fi
fi

# the dry run refuses what a run would refuse (else the checks above prove nothing)
refuse() { # expected-message args...
  local want=$1; shift
  if out=$("$real" "$@" --dry_run --dry_run_skip_data --dataset fashion_mnist 2>&1); then
    echo "FAIL: dry run accepted: $*"; fail=1
  elif ! echo "$out" | grep -q -- "$want"; then
    echo "FAIL: dry run of '$*' did not say '$want': $out"; fail=1
  else
    echo "refused as expected: $*"
  fi
}
refuse "unknown flag --loss_margin_betaa" --loss_margin_betaa 0.6
refuse "unknown --loss 'nosuch'" --loss nosuch
refuse "cannot use --batch_mining" --loss npair --batch_mining distance
refuse "unknown --arch" --arch resnet51_frozen
refuse "not a positive multiple of --samples_per_class" --bs 111 --arch mlp_normalize
DML_WEIGHTS="$tmp/none" refuse "resnet50.safetensors is missing" --arch resnet50_frozen_normalize
refuse "unknown --optim" --optim rmsprop
if out=$("$real" --dry_run --dataset cub200 --source_path "$tmp/no-datasets" --not_pretrained 2>&1); then
  echo "FAIL: dry run accepted a missing dataset folder"; fail=1
elif ! echo "$out" | grep -q "$tmp/no-datasets"; then
  echo "FAIL: dry run of a missing dataset folder did not name it: $out"; fail=1
else
  echo "refused as expected: a missing dataset folder (without --dry_run_skip_data)"
fi
printf 'dml-train --dataset fashion_mnist --arch mlp\n\nbuild/bin/dml-train --dataset fashion_mnist --loss nosuch\n' > "$tmp/two"
if out=$("$real" --dry_run_lines "$tmp/two" --dry_run_skip_data 2>&1); then
  echo "FAIL: --dry_run_lines accepted a bad line"; fail=1
elif ! echo "$out" | grep -q "dry run of 2 lines: 1 ok, 1 refused"; then
  echo "FAIL: --dry_run_lines summary: $out"; fail=1
else
  echo "refused as expected: one bad line of two in --dry_run_lines"
fi
exit $fail
