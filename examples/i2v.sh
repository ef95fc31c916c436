#!/usr/bin/env bash
# Image-to-video with the built-in model, zoetrope-tiny: the clip starts from a given
# first frame and the prompt says what happens next. Run from anywhere after building:
#
#   examples/i2v.sh [OUT_DIR]      # default out/examples (ignored by git)
#
# examples/ci/start.png is a yellow circle left of centre on black, the kind of frame
# the model was trained on; describe the same shape in the prompt, since a prompt that
# contradicts the image is outside anything the model has seen.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
Z=${ZOETROPE:-$root/build/zoetrope}
out=${1:-$root/out/examples}
start=$root/examples/ci/start.png
mkdir -p "$out"

# -i/--image is the first frame (PNG, JPEG, WebP); any size is scaled to cover the
# model's 128x128 and centre-cropped. --seed makes the rest reproducible.
"$Z" i2v -i "$start" "a yellow circle moving right" --seed 1 -o "$out/start-right.mp4"

# The same start, another motion, in FFV1 (.mkv): lossless, so the frames are exactly
# what the VAE decoded, without H.264's smearing of the flat colours.
"$Z" i2v -i "$start" "a yellow circle growing" --seed 2 -o "$out/start-grow.mkv"

# PNG frames to inspect one by one (the directory must exist); --json prints one line
# of stats for scripts, -q silences the progress on stderr; --steps trades quality for
# time (the preset's 20 is what the model was evaluated at).
mkdir -p "$out/start-up"
"$Z" -q i2v -i "$start" "a yellow circle moving up" --seed 3 --steps 12 \
    -o "$out/start-up/%04d.png" --json

# A real checkpoint: Wan2.2 TI2V 5B does both text- and image-to-video at 1280x704
# (see `zoetrope presets`; the preset's download line says where its files come from,
# into models/wan2.2/). The image is scaled and cropped to the preset's size.
# "$Z" i2v --preset wan2.2-ti2v-5b-720p -i photo.jpg \
#     "The cat turns its head towards the camera." --seed 42 --frames 49 \
#     --max-memory 24G -o "$out/cat.mp4" --json

echo "wrote $out" >&2
