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
run() { python3 tools/tiny/train.py "$@" 2>&1 | tee -a out/tiny/train.log; }
# The VAE (and the tokenizer, which reads every caption of the grammar) learn on the
# data's first revision (data.py REVISION), as they always have: the VAE only codes
# frames, and where a path starts is nothing to it. The transformer learns on revision 2,
# whose starts do not give the direction away (tools/tiny/NOTES.md), in two legs, with
# half of its captions shortened to keep the motion word and half of its samples
# image-to-video. models/zoetrope-tiny/README.md has the stages' times.
for stage in tokenizer vae; do run "$stage" --data-rev 1 "$@"; done
run latents --data-rev 2 "$@"
# Leg 1: its cosine is scheduled over 10,000 steps; it stops at 9,000 (lr 0.12x by then).
run dit --dit-steps 10000 --dit-until 9000 --dit-lr 5e-4 --dit-partial 0.5 --dit-i2v 0.5 "$@"
# Legs 2 and 3 (out/tiny/leg, out/tiny/leg3), each from the last leg's averaged weights:
# batches of twin clips, pairs that differ in their motion alone and get the same noise,
# so that only the motion word tells their targets apart; 4,000 steps at lr 5e-4 each,
# on batch streams of their own. Leg 1 taught colour, shape and first frames; these make
# the motion word count (NOTES.md: one such leg was not enough from every leg 1).
mkdir -p out/tiny/leg out/tiny/leg3
for f in vae.pt spiece.model; do
  ln -sf "../$f" "out/tiny/leg/$f"
  ln -sf "../$f" "out/tiny/leg3/$f"
done
ln -sf ../leg/latents.npz out/tiny/leg3/latents.npz
run latents --out out/tiny/leg --data-rev 2 --twins 1 "$@"
twins=(--dit-steps 4000 --dit-lr 5e-4 --dit-partial 0.5 --dit-i2v 0.5 --dit-twins 1 --dit-from-ema 1)
run dit --out out/tiny/leg --dit-from out/tiny/dit.pt --dit-stream 1 "${twins[@]}" "$@"
run dit --out out/tiny/leg3 --dit-from out/tiny/leg/dit.pt --dit-stream 2 "${twins[@]}" "$@"
run export --out out/tiny/leg3 "$@"
