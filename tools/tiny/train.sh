#!/usr/bin/env bash
# Train zoetrope-tiny from scratch on this machine's CPU and export it into
# models/zoetrope-tiny/ (tools/tiny/train.py has the details). Resumable: run it again
# after an interruption and each stage continues from its last checkpoint in out/tiny/.
#   tools/tiny/train.sh [--seed N] [extra train.py options]
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c "import torch, diffusers, transformers, sentencepiece, safetensors" 2>/dev/null || {
  echo "train.sh: needs torch, diffusers, transformers, sentencepiece and safetensors:" >&2
  echo "  pip install torch diffusers transformers sentencepiece safetensors" >&2
  exit 1
}
mkdir -p out/tiny
exec python3 tools/tiny/train.py all "$@" 2>&1 | tee -a out/tiny/train.log
