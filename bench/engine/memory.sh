#!/usr/bin/env bash
# memory — the step arena and the process's peak RSS of one resnet50_frozen_normalize training step at 224²
# (Adam, 128-d), per batch and precision, with the tape releasing dead tensors (the default) and without
# (DML_TAPE_KEEP=1: the bump arena, every tensor kept until the step ends), and the checksum of the parameters
# and gradients after the step, which must be the same in both modes. One dml-bench-engine process per row.
# Rows whose no-release arena would not fit in the machine's available memory are skipped. Usage (repository
# root, after a build):
#   bench/engine/memory.sh                          # BUILD=build BATCHES="16 32 112" PRECISIONS="fp32 bf16"
set -euo pipefail
BUILD=${BUILD:-build}
BENCH="$BUILD/bin/dml-bench-engine"
[ -x "$BENCH" ] || { echo "memory: $BENCH missing (build first)" >&2; exit 1; }
avail_mib=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1024 ))
echo "arch resnet50_frozen_normalize 224², Adam, 1 step; available memory ${avail_mib} MiB"
printf '%-6s %-4s %-8s %12s %12s  %s\n' prec bs mode arena_MiB peak_rss_MiB checksum
for prec in ${PRECISIONS:-fp32 bf16}; do
  for bs in ${BATCHES:-16 32 112}; do
    # the no-release arena, per image: ~215 MiB fp32, ~108 MiB bf16 (measured); skip what cannot fit
    per=$([ "$prec" = bf16 ] && echo 110 || echo 220)
    for mode in release keep; do
      [ "$mode" = keep ] && need=$(( per * bs + 1024 )) || need=$(( per * bs / 2 + 1024 ))
      if [ "$need" -gt "$avail_mib" ]; then
        printf '%-6s %-4s %-8s %12s %12s  %s\n' "$prec" "$bs" "$mode" - - "skipped: needs ~${need} MiB"
        continue
      fi
      keep=$([ "$mode" = keep ] && echo 1 || echo 0)
      out=$(DML_TAPE_KEEP=$keep "$BENCH" --arch resnet50_frozen_normalize --size 224 --bs "$bs" --precision "$prec" \
            --optim adam --steps 1 --warmup 0 --checksum 2>&1)
      arena=$(sed -n 's/.*arena_peak_MiB \([0-9.]*\).*/\1/p' <<< "$out" | head -1)
      rss=$(sed -n 's/.*peak_rss_MiB \([0-9.]*\).*/\1/p' <<< "$out" | head -1)
      sum=$(grep -io 'checksum[^ ]* [0-9a-fx]*' <<< "$out" | head -1 || true)
      printf '%-6s %-4s %-8s %12s %12s  %s\n' "$prec" "$bs" "$mode" "${arena:-?}" "${rss:-?}" "${sum:-?}"
    done
  done
done
