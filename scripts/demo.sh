#!/usr/bin/env bash
# Build Zoetrope and run the main job: a clip from a prompt with the built-in model
# (zoetrope-tiny, presets/tiny.cfg), written to demo.mp4. No downloads.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
build/zoetrope t2v "a red circle moving left on a white background" --seed 1 -o demo.mp4
echo "wrote $(pwd)/demo.mp4" >&2
