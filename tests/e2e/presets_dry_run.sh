#!/usr/bin/env bash
# presets_dry_run — every dml-train line of every script in runs/presets/ goes through dml-train's flag parser
# and checks with --dry_run --dry_run_skip_data (issue 10, point 7): flags, method names, loss/miner pairs,
# --bs / --samples_per_class, the architecture and the weights lookup. The data is not looked at (a synthetic
# path is passed; the layout checks belong to the dataset tests), so the presets' DATAPATH need not exist.
# The weights folder holds empty stand-ins for the ImageNet files: the dry run checks that the file is there.
# A line whose only failure is a reference dataset name this build does not register yet (cub200, cars196,
# online_products, in_shop) is counted as pending, not failed; any other failure fails the test. Lines are
# counted per preset against the numbers the scripts promise, and a few bad lines must be refused.
# Usage: presets_dry_run.sh DML_TRAIN (from the repository root)
set -euo pipefail
real=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/weights"
for f in resnet50 resnet18 bninception googlenet densenet169; do : > "$tmp/weights/$f.safetensors"; done
export DML_WEIGHTS="$tmp/weights" DML_PROGRESS=0 LOG="$tmp/log" REAL="$real"
# the wrapper every preset calls instead of dml-train: one dry run per line, outcome appended to $LOG
cat > "$tmp/bin/dml-train" <<'EOF'
#!/usr/bin/env bash
out=$("$REAL" "$@" --dry_run --dry_run_skip_data 2>&1) && { echo "ok $*" >> "$LOG"; exit 0; }
if echo "$out" | grep -q "unknown --dataset '\(cub200\|cars196\|online_products\|in_shop\)' (not registered"; then
  echo "pending $*" >> "$LOG"; exit 0
fi
{ echo "FAILED $*"; echo "$out" | sed 's/^/    /'; } >> "$LOG"
exit 0
EOF
printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/dml-aggregate"
cp "$tmp/bin/dml-aggregate" "$tmp/bin/dml-table"
chmod +x "$tmp/bin/"*

fail=0
check() { # preset expected_lines
  : > "$LOG"
  DML="$tmp/bin/dml-train" BIN="$tmp/bin" OUT="$tmp/out" DATAPATH="$tmp/no-datasets" bash "runs/presets/$1" > /dev/null
  local n ok pend bad
  n=$(wc -l < "$LOG"); ok=$(grep -c '^ok ' "$LOG" || true); pend=$(grep -c '^pending ' "$LOG" || true)
  bad=$(grep -c '^FAILED ' "$LOG" || true)
  echo "$1: $n lines: $ok checked, $pend pending (dataset not registered yet), $bad failed"
  grep -A3 '^FAILED ' "$LOG" | head -20 || true
  [ "$n" -eq "$2" ] || { echo "FAIL: $1 has $n dml-train lines, expected $2"; fail=1; }
  [ "$bad" -eq 0 ] || fail=1
}
check revisit_icml2020.sh 335
check nir_cvpr2022.sh 14
check reference_readme.sh 3
check fashion_mnist.sh 10
for f in runs/presets/*.sh; do
  case $(basename "$f") in revisit_icml2020.sh|nir_cvpr2022.sh|reference_readme.sh|fashion_mnist.sh) ;;
    *) echo "FAIL: $f is not checked here; add it"; fail=1 ;; esac
done

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
exit $fail
