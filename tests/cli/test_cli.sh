#!/usr/bin/env bash
# The zoetrope command line: dispatch, help, settings precedence, presets, and the
# errors for bad flags, presets, sizes and outputs (one line, documented exit code,
# nothing written).
. "$(dirname "$0")/lib.sh"
Z=$ZT_BIN
P=$ZT_SRC/tests/data/presets
OUT=$TMP/out_dir
mkdir -p "$OUT"

expect 1 "no command given" "$Z"
expect 0 "t2v" "$Z" --help
expect 1 "unknown command 'frobnicate'" "$Z" frobnicate
for c in t2v i2v render encode info presets bench version; do
    expect 0 "usage: zoetrope $c" "$Z" "$c" --help
done
expect 0 "^zoetrope [0-9]+\.[0-9]+\.[0-9]+" "$Z" version
expect 0 "libavcodec" "$Z" version

# --- settings precedence: defaults < preset < --config < flags ---------------------
run "$Z" t2v --dry-run --json -p "a red circle moving left" --preset "$P/base.cfg" \
    --config "$P/override.cfg" --height 256 -o "$OUT/x.mp4"
checks=$((checks + 1))
[ "$rc" -eq 0 ] || fail "dry run failed: $err"
python3 - "$TMP/out" <<'PY' || fail "precedence: $out"
import json, sys
d = json.load(open(sys.argv[1]))
want = {"width": "480", "height": "256", "steps": "7", "guidance": "2.5", "sampler": "euler",
        "frames": "81", "fps": "16", "prompt": "a red circle moving left"}
bad = {k: (d.get(k), v) for k, v in want.items() if d.get(k) != v}
sys.exit(1 if bad else 0)
PY
run "$Z" t2v --dry-run -p x --preset "$P/base.cfg" --config "$P/override.cfg" --height 256 -o "$OUT/x.mp4"
checks=$((checks + 1))
echo "$out" | grep -qE "^width +\= 480 +# .*override.cfg:1" || fail "width source: $out"
echo "$out" | grep -qE "^height +\= 256 +# --height" || fail "height source: $out"
echo "$out" | grep -qE "^steps +\= 7 +# .*base.cfg:5" || fail "steps source: $out"
echo "$out" | grep -qE "^frames +\= 81 +# default" || fail "frames source: $out"
# the prompt may also be the last argument
expect 0 "prompt += a blue square" "$Z" t2v --dry-run "a blue square" -o "$OUT/x.mp4"

# --- presets -------------------------------------------------------------------------
expect 0 "wan2.1-t2v-1.3b-480p" "$Z" presets
expect 0 "\"name\":" "$Z" presets --json
# a dry run shows the settings, then makes the plan, which needs the files: here they
# are missing, so it fails as the run would, saying where to get them
expect 2 "preset wan2.2-ti2v-5b-720p: download the files from" env ZT_MODEL_PATH="$TMP/none" \
    "$Z" t2v --dry-run -p x --preset wan2.2-ti2v-5b-720p -o "$OUT/x.mp4"
checks=$((checks + 1))
grep -qE "width += 1280" "$TMP/out" || fail "dry run printed no settings: $(head -3 "$TMP/out")"
expect 1 "--preset nosuch: no such preset" "$Z" t2v -p x --preset nosuch
expect 2 "unknown_key.cfg:2: unknown key 'heigth'" "$Z" t2v -p x --preset "$P/unknown_key.cfg"
expect 2 "wrong_type.cfg:2: 'width' must be an integer" "$Z" t2v -p x --config "$P/wrong_type.cfg"
expect 2 "syntax.cfg:2: syntax error" "$Z" t2v -p x --config "$P/syntax.cfg"
expect 2 "bad_choice.cfg:1: unknown sampler 'ddim'" "$Z" t2v -p x --config "$P/bad_choice.cfg"
expect 2 "bad_size.cfg:1: width 100 is not a multiple of 16" "$Z" t2v -p x --config "$P/bad_size.cfg" -o "$OUT/x.mp4"
expect 2 "nosuch.cfg: cannot open" "$Z" t2v -p x --config "$TMP/nosuch.cfg"
ZT_PRESET_PATH=$P run "$Z" presets
checks=$((checks + 1))
[ "$rc" -eq 2 ] || fail "presets with a broken one: exit $rc"
echo "$out" | grep -q "test preset" || fail "good presets still listed: $out"

# --- flags and impossible sizes --------------------------------------------------------
expect 1 "a prompt is required" "$Z" t2v -o "$OUT/x.mp4"
expect 1 "--width: width 0 is outside 1..8192" "$Z" t2v -p x --width 0
expect 1 "--width: expected an integer, got '-16x'" "$Z" t2v -p x --width -16x
expect 1 "--width: width -16 is outside" "$Z" t2v -p x --width -16
expect 1 "--height: height 100000 is outside" "$Z" t2v -p x --height 100000
expect 1 "--width: width 100 is not a multiple of 16 \(try 112\)" "$Z" t2v -p x --width 100
expect 1 "--frames: frames 10 is not 4k\+1 \(try 13\)" "$Z" t2v -p x --frames 10
expect 1 "--steps: expected an integer, got 'many'" "$Z" t2v -p x --steps many
expect 1 "--guidance: expected a number" "$Z" t2v -p x --guidance 1.5.2
expect 1 "--seed: seed must not be negative" "$Z" t2v -p x --seed -1
expect 1 "--width needs a value" "$Z" t2v -p x --width
expect 1 "unknown option '--widht'" "$Z" t2v -p x --widht 3
expect 1 "unexpected argument" "$Z" t2v a b
expect 1 "--codec: unknown codec 'h265'" "$Z" t2v -p x --codec h265
expect 1 "cannot tell the output type of '.*out.xyz'" "$Z" t2v -p x -o "$OUT/out.xyz"
expect 1 "only y4m can be written to stdout" "$Z" t2v -p x -o - --codec h264
expect 1 "an input image is required" "$Z" i2v -p x -o "$OUT/x.mp4"

# --- outputs ---------------------------------------------------------------------------
expect 2 "directory '$TMP/missing' does not exist" "$Z" t2v -p x -o "$TMP/missing/x.mp4"
touch "$TMP/plainfile"
expect 2 "'$TMP/plainfile' is not a directory" "$Z" t2v -p x -o "$TMP/plainfile/x.mp4"
if [ "$(id -u)" -ne 0 ]; then
    mkdir -p "$TMP/ro" && chmod 555 "$TMP/ro"
    expect 2 "is not writable" "$Z" t2v -p x -o "$TMP/ro/x.mp4"
fi

# --- images ------------------------------------------------------------------------------
printf 'hello' > "$TMP/not_an_image.png"
expect 2 "not_an_image.png" "$Z" i2v -p x -i "$TMP/not_an_image.png" -o "$OUT/x.mp4"
expect 2 "missing.png" "$Z" i2v -p x -i "$TMP/missing.png" -o "$OUT/x.mp4"

# --- model files -------------------------------------------------------------------------
expect 2 "model file '$TMP/none.safetensors' not found" "$Z" t2v -p x -o "$OUT/x.mp4" \
    --model "$TMP/none.safetensors" --vae "$TMP/none.safetensors" --text-encoder "$TMP/none.safetensors" \
    --tokenizer "$TMP/none.model"
expect 2 "model file 'models/nosuch.safetensors' not found \(looked in" "$Z" t2v -p x -o "$OUT/x.mp4" \
    --model models/nosuch.safetensors --vae x --text-encoder x --tokenizer x
printf 'not a model' > "$TMP/junk.safetensors"
P=$ZT_SRC/tests/data/pipeline
GOOD=(--vae "$ZT_SRC/tests/data/vae/wan21/original.pth" --text-encoder "$P/t5.safetensors"
      --tokenizer "$ZT_SRC/tests/data/tokenizer/bf.model")
expect 2 "junk.safetensors" "$Z" t2v -p x -o "$OUT/x.mp4" --model "$TMP/junk.safetensors" "${GOOD[@]}"
# with --config (or --preset, or --model) the built-in model is not used: nothing names one
expect 1 "no model file given" "$Z" t2v -p x -o "$OUT/x.mp4" --config "$ZT_SRC/tests/data/presets/override.cfg"
# with none of them it is: preset tiny, the built-in model
run "$Z" t2v --dry-run -p x -o "$OUT/x.mp4"
checks=$((checks + 1))
[ "$rc" -eq 0 ] || fail "dry run on the built-in model failed: $err"
echo "$out" | grep -qE "^width +\= 128 +# .*tiny.cfg" || fail "default preset: $out"
echo "$out" | grep -qE "^model +\= .*zoetrope-tiny/transformer.safetensors" || fail "default model: $out"
expect 1 "no tokenizer file given" "$Z" t2v -p x -o "$OUT/x.mp4" --model "$P/dit21.safetensors" \
    --vae x --text-encoder x
ST=$ZT_SRC/tests/data/safetensors/small.safetensors
expect 2 "small.safetensors: tensor names match no known naming" "$Z" t2v -p x \
    -o "$OUT/x.mp4" --model "$P/dit21.safetensors" "${GOOD[@]}" --vae "$ST"
no_files "$OUT"
finish
