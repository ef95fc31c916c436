#!/usr/bin/env bash
# Packs the CUDA tests and GPU benchmarks of a build, with the shared libraries they need
# beyond the C/C++ runtime and the CUDA driver, for GPU machines that have the CUDA
# toolkit but not the project's build dependencies (tools/gpu-check.sh --prebuilt DIR).
#
#   tools/gpu/pack-prebuilt.sh [--build DIR] [--out FILE] [--video FILE]
#
# --build DIR: the CMake build with the CUDA backend (default: build).
# --out FILE: the archive of DIR .gpu/{bin,lib} (default .gpu/pack.tar.gz, which git
#   ignores). Unpack it with `tar -xzf FILE -C /tmp` and pass --prebuilt /tmp/.gpu.
# --video FILE: also pack test_cuda_generate (the end-to-end tiny t2v/i2v test) and the
#   FFmpeg libraries it links, about 55 MB with xz: more than can travel beside the
#   source tree (27 MB) in one call of the device tool (64 MiB), so it is also cut into
#   FILE.part00, part01, ... of 30 MB. On a machine kept warm between calls, carry one
#   part per call and append it to /tmp/video.tar.xz; then `tar -xJf /tmp/video.tar.xz
#   -C /tmp` unpacks it over the first archive's /tmp/.gpu, where gpu-check finds the
#   test.
# cuBLAS and cuBLASLt are not packed: the backend opens them from the toolkit there.
# The tests read their data from this checkout's absolute path, compiled in: on the GPU
# machine, run from a checkout at the same path or link that path to it
# (`ln -sfn "$PWD" /work/main` for a build made in /work/main).
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build out=.gpu/pack.tar.gz video=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --video) video="$2"; shift 2 ;;
    *) echo "pack-prebuilt: unknown option $1" >&2; exit 2 ;;
  esac
done

bins=(tests/test_cuda tests/test_cuda_attention tests/test_cuda_conv tests/test_cuda_elementwise
  tests/test_cuda_models tests/test_cuda_vae tools/attn_bench tools/dit_bench tools/vae_bench)
ninja -C "$build" "${bins[@]}" >/dev/null ||
  { echo "pack-prebuilt: building the CUDA tests in $build failed" >&2; exit 1; }

# pack BIN... into ARCHIVE (tar's compressor flag COMP): binaries stripped, and the
# libraries ldd resolves for them except the runtime, the driver and CUDA's own
pack() {
  local archive="$1" comp="$2"; shift 2
  local stage; stage=$(mktemp -d)
  mkdir -p "$stage/.gpu/bin" "$stage/.gpu/lib"
  for b in "$@"; do
    [ -x "$build/$b" ] || { echo "pack-prebuilt: $build/$b is missing" >&2; exit 1; }
    cp "$build/$b" "$stage/.gpu/bin/"
    ldd "$build/$b" | awk '/=> \// {print $3}' |
      grep -v -E '/(libc|libm|libpthread|libdl|librt|libgcc_s|libstdc\+\+|libcuda|libcublas)[.-]' |
      while read -r lib; do cp -Ln "$lib" "$stage/.gpu/lib/" 2>/dev/null || true; done
  done
  strip "$stage"/.gpu/bin/*
  mkdir -p "$(dirname "$archive")"
  tar -c"$comp"f "$archive" -C "$stage" .gpu
  rm -rf "$stage"
  echo "$archive: $(du -h "$archive" | cut -f1)"
}

pack "$out" z "${bins[@]}"
if [ -n "$video" ]; then
  ninja -C "$build" tests/test_cuda_generate >/dev/null
  pack "$video" J tests/test_cuda_generate
  rm -f "$video".part*
  split -b 30m -d "$video" "$video.part"
  ls "$video".part*
fi
