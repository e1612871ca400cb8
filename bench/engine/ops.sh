#!/usr/bin/env bash
# ops — CPU time per step of the ops with our own AVX-512 kernels (batch norm, pooling, add), with those kernels
# (DML_CPU_SIMD=auto) and with their portable C twins (DML_CPU_SIMD=portable), on the bench rows that train batch
# norm, in both precisions. One thread and --cpu_clock, so that the numbers are each op's work even while other
# processes share the cores; the two modes give bitwise the same checksum (printed). Usage (repository root, after
# a build):
#   bench/engine/ops.sh                   # BUILD=build ROWS="resnet18:64:64 resnet50:64:64 resnet18:16:224 resnet50:16:224"
set -euo pipefail
BUILD=${BUILD:-build}
BENCH="$BUILD/bin/dml-bench-engine"
[ -x "$BENCH" ] || { echo "ops: $BENCH missing (build first)" >&2; exit 1; }
printf '%-18s %-4s %-8s %7s %7s %7s %7s %7s %7s %8s  %s\n' row prec simd bn_fwd bn_bwd pool_fwd pool_bwd add_fwd \
  add_bwd step_cpu checksum
for row in ${ROWS:-resnet18:64:64 resnet50:64:64 resnet18:16:224 resnet50:16:224}; do
  IFS=: read -r arch bs size <<<"$row"
  for prec in fp32 bf16; do
    for simd in auto portable; do
      out=$(DML_CPU_SIMD=$simd OMP_NUM_THREADS=1 "$BENCH" --arch "$arch" --bs "$bs" --size "$size" --steps 2 \
            --precision "$prec" --profile --cpu_clock --checksum 2>&1)
      op() { awk -v k="$1" '$0 ~ "^  "k" " {print $(NF-1)}' <<<"$out"; }
      printf '%-18s %-4s %-8s %7s %7s %7s %7s %7s %7s %8s  %s\n' "$arch $bs@$size" "$prec" "$simd" "$(op 'bn fwd')" \
        "$(op 'bn bwd')" "$(op 'pool fwd')" "$(op 'pool bwd')" "$(op 'add fwd')" "$(op 'add bwd')" \
        "$(awk '/CPU time of the process/ {print $(NF-1)}' <<<"$out")" \
        "$(awk '/checksum/ {print $NF}' <<<"$out")"
    done
  done
done
echo "ms per step, CPU time of one thread; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
