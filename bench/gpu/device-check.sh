#!/usr/bin/env bash
# device-check.sh — the one prepared GPU check, run ON the lent GPU machine by the device tool, from the repository
# root, after bench/gpu/pack.sh made .device/dml-gpu.tar.xz here:
#   run(command="bash bench/gpu/device-check.sh", carry=[".device"], timeout_s=600)
# It (1) records the GPU and library versions, (2) runs the CUDA tests (every op against the CPU oracle, each GPU
# op twice bitwise), (3) checks that a ResNet step on the GPU repeats bitwise, (4) times ResNet-50
# (resnet50_frozen_normalize, 224², batch 112, forward + backward) for dml in fp32 and TF32 and for PyTorch in
# eager fp32 / strict fp32 / AMP bf16 + channels_last / torch.compile, in the same call on the same GPU.
# Every step has its own timeout; the whole check stays under ~8 minutes. Logs and results.txt go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/dml-device-out}
mkdir -p "$OUT"
res="$OUT/results.txt"
: > "$res"
say() { echo "$*" | tee -a "$res"; }

# ---- 1. unpack, libraries
rm -rf /tmp/dml && mkdir -p /tmp/dml
if ! xz -dc .device/dml-gpu.tar.xz | tar -C /tmp/dml -xf -; then say "FAIL unpack .device/dml-gpu.tar.xz (run bench/gpu/pack.sh and carry .device)"; exit 1; fi
site=$(python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null)
libdirs=$(find "$site/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="/tmp/dml/lib:${libdirs}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())'
  for b in /tmp/dml/bin/*; do echo "== $b"; ldd "$b" | grep -E 'not found|cud|blas|dnnl'; done; } > "$OUT/env.txt" 2>&1
if grep -q 'not found' "$OUT/env.txt"; then say "WARN missing libraries (see env.txt):"; grep 'not found' "$OUT/env.txt" | sort -u | tee -a "$res"; fi
say "gpu: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"

# ---- 2. CUDA tests against the CPU oracle
for t in cuda_ops cuda_layers; do
  if timeout 120 /tmp/dml/bin/$t > "$OUT/$t.log" 2>&1; then say "PASS $t"; else say "FAIL $t (rc $?; $t.log)"; fi
done

# ---- 3. determinism: the same step twice on the GPU, bitwise (gradients + embeddings hashed)
bench=/tmp/dml/bin/dml-bench-gpu
h1=$(timeout 120 $bench --arch resnet18 --bs 32 --size 112 --steps 2 --warmup 1 --checksum 2>>"$OUT/det.log" | awk '/checksum/{print $2}')
h2=$(timeout 120 $bench --arch resnet18 --bs 32 --size 112 --steps 2 --warmup 1 --checksum 2>>"$OUT/det.log" | awk '/checksum/{print $2}')
if [ -n "$h1" ] && [ "$h1" = "$h2" ]; then say "PASS gpu step bitwise repeatable ($h1)"; else say "FAIL gpu step repeatable ('$h1' vs '$h2'; det.log)"; fi

# ---- 4. ResNet-50 side by side (same call, same GPU)
{
  timeout 150 $bench --arch resnet50_frozen_normalize --bs 112 --size 224 --steps 10 --warmup 3
  DML_CUDA_TF32=1 timeout 150 $bench --arch resnet50_frozen_normalize --bs 112 --size 224 --steps 10 --warmup 3 |
    sed 's/ fp32 / tf32 /'
  PYTHONUNBUFFERED=1 timeout 240 python3 bench/gpu/torch_gpu.py --bs 112 --size 224 --steps 10 --warmup 3
} > "$OUT/bench.log" 2>&1
cat "$OUT/bench.log" >> "$res"
python3 - "$OUT/bench.log" <<'PY' | tee -a "$res"
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(dml|torch) (?:cuda \S+ )?(\S+) .*img_per_s ([0-9.]+)", line)
    if m: rows[f"{m.group(1)} {m.group(2)}"] = float(m.group(3))
base = rows.get("torch eager_fp32")
print("ratios against PyTorch eager fp32 (torch defaults):")
for k, v in rows.items():
    print(f"  {k:32s} {v:9.1f} img/s  {v / base:5.2f}x" if base else f"  {k:32s} {v:9.1f} img/s")
PY
echo "results in $OUT/results.txt"
