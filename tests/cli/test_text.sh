#!/usr/bin/env bash
# test_text.sh - `zoetrope text encode`: token ids through the tiny umT5 fixture (the
# hidden states checked against transformers' by the unit test, here bit for bit
# between the weight files), Wan's zero padding, a prompt through a tokenizer, and the
# error cases (exit code, one line naming the culprit).
. "$(dirname "$0")/lib.sh"

D="$ZT_SRC/tests/data/t5/umt5"
echo "1 2 3 4 5 6 7 8 9 1" > "$TMP/ids.txt"

expect 0 '"tokens": 10' "$ZT_BIN" text encode --text-encoder "$D/hf_bf16.safetensors" \
    --ids "$TMP/ids.txt" --json --dump-f32 "$TMP/hf.f32"
expect 0 '"naming": "wan"' "$ZT_BIN" text encode --text-encoder "$D/wan_bf16.pth" \
    --ids "$TMP/ids.txt" --json --dump-f32 "$TMP/wan.f32"
checks=$((checks + 1))
cmp -s "$TMP/hf.f32" "$TMP/wan.f32" || fail "the HF and Wan files encode differently"
checks=$((checks + 1))
[ "$(stat -c %s "$TMP/hf.f32")" -eq $((10 * 64 * 4)) ] || fail "dump size $(stat -c %s "$TMP/hf.f32")"

# Wan's padding: 512 rows, the first 10 as before, the rest zeros
expect 0 '"rows": 512' "$ZT_BIN" text encode --text-encoder "$D/hf_bf16.safetensors" \
    --ids "$TMP/ids.txt" --pad 512 --json --dump-f32 "$TMP/pad.f32"
checks=$((checks + 1))
cmp -s -n $((10 * 64 * 4)) "$TMP/hf.f32" "$TMP/pad.f32" || fail "padded rows differ"
checks=$((checks + 1))
tail -c $((502 * 64 * 4)) "$TMP/pad.f32" | cmp -s - <(head -c $((502 * 64 * 4)) /dev/zero) ||
    fail "padding is not zeros"

# a prompt through a tokenizer whose ids this tiny encoder does not have
expect 2 "outside the vocabulary of" "$ZT_BIN" text encode --text-encoder "$D/hf.safetensors" \
    --tokenizer "$ZT_SRC/tests/data/tokenizer/unk.model" -p "a red circle moving left"
expect 2 "invalid UTF-8" "$ZT_BIN" text encode --text-encoder "$D/hf.safetensors" \
    --tokenizer "$ZT_SRC/tests/data/tokenizer/unk.model" -p $'bad \xff byte'
expect 2 "missing.model: cannot open" "$ZT_BIN" text encode --text-encoder "$D/hf.safetensors" \
    --tokenizer "$TMP/missing.model" -p "x"
echo "1 2 x" > "$TMP/bad_ids.txt"
expect 2 "bad_ids.txt: not a list of numbers" "$ZT_BIN" text encode \
    --text-encoder "$D/hf.safetensors" --ids "$TMP/bad_ids.txt"
expect 2 "match no known naming|missing tensor" "$ZT_BIN" text encode \
    --text-encoder "$ZT_SRC/tests/data/vae/wan21/original.safetensors" --ids "$TMP/ids.txt"
expect 1 "give --prompt or --ids" "$ZT_BIN" text encode --text-encoder "$D/hf.safetensors"
expect 1 "expected 'encode'" "$ZT_BIN" text --text-encoder "$D/hf.safetensors"

finish
