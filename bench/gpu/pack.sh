#!/usr/bin/env bash
# pack.sh — run HERE (the build machine) before the device check: bundles the CUDA test binaries, dml-bench-gpu and
# dml-train with the shared libraries they need that the GPU machine lacks (it has no Debian -dev/runtime libraries;
# CUDA, cuBLAS and cuDNN come from its own PyTorch install and are left out) into .device/dml-gpu.tar.xz, an ignored
# folder that the device tool carries (`carry: [".device"]`; 64 MiB in all with the working tree).
#   bench/gpu/pack.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
bins=("$build/tests/cuda/cuda_ops" "$build/tests/cuda/cuda_layers" "$build/bin/dml-bench-gpu" "$build/bin/dml-train")
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "pack.sh: $b not built (cmake --build $build)" >&2; exit 1; }; done
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> "$(git rev-parse --git-common-dir)/info/exclude"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" .device
cp "${bins[@]}" "$stage/bin/"
# every library the binaries load, except glibc's own and the CUDA libraries (the device brings those)
for b in "${bins[@]}"; do ldd "$b"; done | awk '/=> \//{print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so|libcuda|libcudart|libcublas|libcudnn|libnvrtc' |
  while read -r l; do cp -L "$l" "$stage/lib/"; done
tar -C "$stage" -cf - bin lib | xz -T2 -6 > .device/dml-gpu.tar.xz
du -h .device/dml-gpu.tar.xz
