#!/usr/bin/env bash
# Text-to-video with the built-in model, zoetrope-tiny: each command below is one way
# to call `zoetrope t2v`. Run from anywhere after building (scripts/demo.sh builds):
#
#   examples/t2v.sh [OUT_DIR]      # default out/examples (ignored by git)
#
# zoetrope-tiny knows one world, so prompts follow its grammar:
#   a {red|green|blue|yellow|white|orange|purple|cyan} {circle|square|triangle}
#     {moving left|moving right|moving up|moving down|growing|shrinking}
#     [on a {black|gray|white} background]
# and every clip is 128x128, 17 frames at 8 fps (presets/tiny.cfg).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
Z=${ZOETROPE:-$root/build/zoetrope}
out=${1:-$root/out/examples}
mkdir -p "$out"

# The prompt as the last argument; no --preset or --model means the built-in model.
# --seed fixes the noise: the same seed gives the same bytes on any --threads count.
"$Z" t2v "a red circle moving right" --seed 1 -o "$out/red.mp4"

# The output type follows the extension: .mp4 H.264, .webm VP9, .mkv FFV1 (lossless),
# .gif, .y4m, or a PNG pattern (its directory must exist). -c/--codec overrides it.
"$Z" t2v "a blue square growing on a white background" --seed 2 -o "$out/blue.webm"
"$Z" t2v "a green triangle moving up" --seed 3 -o "$out/green.mkv"
mkdir -p "$out/cyan"
"$Z" t2v "a cyan circle shrinking on a gray background" --seed 4 -o "$out/cyan/%04d.png"

# Fewer --steps is faster and rougher (the preset's 20 is what the model was evaluated
# at); --json prints one line of stats (output, frames, seconds, memory) for scripts,
# -q silences the progress on stderr.
"$Z" -q t2v "a yellow square moving left" --seed 5 --steps 10 -o "$out/yellow.mp4" --json

# --dry-run prints the resolved settings, each with where its value came from, and
# the memory plan, then exits without generating.
"$Z" t2v "a white triangle moving down" --dry-run

# A real checkpoint: Wan2.1 T2V 1.3B at 832x480, 81 frames (see `zoetrope presets`;
# the preset's download line says where its files come from, into models/wan2.1/).
# Any preset value can be overridden by a flag, e.g. fewer frames for a first try.
# "$Z" t2v --preset wan2.1-t2v-1.3b-480p \
#     "A cat walks on the grass, realistic style." --seed 42 --frames 33 \
#     --max-memory 16G -o "$out/cat.mp4" --json

echo "wrote $out" >&2
