#!/usr/bin/env bash
# Build Zoetrope and run the main job. Until the built-in model lands this encodes a
# generated test pattern to demo.mp4, through the same writer generation uses.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
build/zoetrope encode --pattern bars --width 256 --height 256 --frames 48 --fps 24 -o demo.mp4
echo "wrote $(pwd)/demo.mp4" >&2
