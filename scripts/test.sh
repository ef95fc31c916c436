#!/usr/bin/env bash
# Build Zoetrope and run every test: a release build with warnings as errors (and the
# CUDA backend compiled when nvcc is present), then the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then each fuzz harness for 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

jobs=$(nproc)

echo "== release build" >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DZT_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure

echo "== sanitizer build (ASan + UBSan)" >&2
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZT_WERROR=ON \
  -DZT_SANITIZE=ON -DZT_CUDA=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure

echo "== fuzz smoke (libFuzzer, 10 s each)" >&2
ZT_JOBS="$jobs" scripts/fuzz.sh 10

echo "all tests passed" >&2
