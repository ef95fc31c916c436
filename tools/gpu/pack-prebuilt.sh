#!/usr/bin/env bash
# Packs the CUDA tests, the GPU benchmarks and the zoetrope program of a build, with the
# shared libraries they need beyond the C/C++ runtime and the CUDA driver, for GPU
# machines that have the CUDA toolkit but not the project's build dependencies
# (tools/gpu-check.sh --prebuilt DIR).
#
#   tools/gpu/pack-prebuilt.sh [--build DIR] [--out FILE]
#
# --build DIR: the CMake build with the CUDA backend (default: build-pack, configured here
#   when missing). It must be built without -march=native (ZT_NATIVE=OFF): the GPU
#   machine's CPU need not have this one's instructions.
# --out FILE: the archive of DIR .gpu/{bin,lib} (default .gpu/pack.tar.xz, which git
#   ignores). Unpack it with `tar -xJf FILE -C /tmp` (or, where xz is missing, python3
#   -c "import tarfile; tarfile.open('FILE').extractall('/tmp')") and pass --prebuilt
#   /tmp/.gpu.
# FFmpeg's libraries are a small build of Debian's own FFmpeg source with only what
# Zoetrope calls (tools/gpu/build-ffmpeg-min.sh, run here when .gpu/ffmpeg-min is
# missing): Debian's whole closure is 55 MB with xz, more than can travel beside the
# source tree in one call of the device tool (64 MiB).
# cuBLAS and cuBLASLt are not packed: the backend opens them from the toolkit there.
# The tests read their data from this checkout's absolute path, compiled in: on the GPU
# machine, run from a checkout at the same path or link that path to it
# (`ln -sfn "$PWD" /work/main` for a build made in /work/main).
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build-pack out=.gpu/pack.tar.xz
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "pack-prebuilt: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DZT_CUDA=ON -DZT_NATIVE=OFF \
    >/dev/null || { echo "pack-prebuilt: configuring $build failed" >&2; exit 1; }
fi
if grep -q '^ZT_NATIVE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "pack-prebuilt: $build is built for this CPU (ZT_NATIVE=ON); the GPU machine's may" \
    "lack its instructions: reconfigure it with -DZT_NATIVE=OFF" >&2
  exit 1
fi

bins=(tests/test_cuda tests/test_cuda_attention tests/test_cuda_conv tests/test_cuda_elementwise
  tests/test_cuda_models tests/test_cuda_vae tests/test_cuda_generate tools/attn_bench
  tools/dit_bench tools/vae_bench zoetrope)
ninja -C "$build" "${bins[@]}" >/dev/null ||
  { echo "pack-prebuilt: building the CUDA tests in $build failed" >&2; exit 1; }
tools/gpu/build-ffmpeg-min.sh --out .gpu/ffmpeg-min >/dev/null
ffmin=$(realpath .gpu/ffmpeg-min/lib)

# BIN... into the archive: binaries stripped, and the libraries ldd resolves for them
# (FFmpeg's from the small build) except the runtime, the driver and CUDA's own
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/.gpu/bin" "$stage/.gpu/lib"
for b in "${bins[@]}"; do
  [ -x "$build/$b" ] || { echo "pack-prebuilt: $build/$b is missing" >&2; exit 1; }
  cp "$build/$b" "$stage/.gpu/bin/"
  LD_LIBRARY_PATH="$ffmin" ldd "$build/$b" | awk '/=> \// {print $3}' |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|libgcc_s|libstdc\+\+|libcuda|libcublas)[.-]' |
    while read -r lib; do cp -Ln "$lib" "$stage/.gpu/lib/" 2>/dev/null || true; done
done
if LD_LIBRARY_PATH="$stage/.gpu/lib" ldd "$stage"/.gpu/bin/* | grep -q "not found"; then
  echo "pack-prebuilt: a library is missing from the pack" >&2
  exit 1
fi
strip "$stage"/.gpu/bin/*
# what the binaries were built from, for the report (the checkout the GPU machine gets
# may name another commit)
dirty=""
git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && dirty=", with changes"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty, packed" \
  "$(date -u +%Y-%m-%dT%H:%MZ)" >"$stage/.gpu/BUILD"
mkdir -p "$(dirname "$out")"
tar -cJf "$out" -C "$stage" .gpu
echo "$out: $(du -h "$out" | cut -f1)"
