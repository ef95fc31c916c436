#!/usr/bin/env bash
# Install what building and testing Zoetrope needs on Debian 12, skipping what is
# already there. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev  # video and image I/O
  libconfig-dev                                                # presets and job files
  libjansson-dev                                               # safetensors headers, JSON output
  libxml2-dev                                                  # HTML entity names (prompt cleaning)
  libopenblas-dev                                              # f32 GEMM
  ffmpeg                                                       # ffprobe, used by the tests
  clang libclang-rt-dev                                        # libFuzzer and the sanitizer runtimes
                                                               # for the fuzz harnesses (scripts/fuzz.sh)
  jq                                                           # reads manifests in the tests
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
