#!/usr/bin/env bash
# test_generate.sh - `zoetrope t2v` and `zoetrope i2v` end to end on the tiny pipeline
# fixtures (tests/data/pipeline: a 2-layer Wan DiT, a tiny umT5, the VAE fixtures):
# the videos' frame count and size by ffprobe, the same seed giving the same bytes on
# 1 and 2 threads, and refusals (one line, documented exit code, nothing written).
. "$(dirname "$0")/lib.sh"
command -v ffprobe >/dev/null || { echo "ffprobe not found"; exit 1; }

Z=$ZT_BIN
P=$ZT_SRC/tests/data/pipeline
D=$ZT_SRC/tests/data
T2V=(--model "$P/dit21.safetensors" --vae "$D/vae/wan21/original.pth"
     --text-encoder "$P/t5.safetensors" --tokenizer "$D/tokenizer/bf.model"
     -W 48 -H 32 -f 9 --steps 3)
I2V=(--model "$P/dit22.safetensors" --vae "$D/vae/wan22/diffusers.safetensors"
     --text-encoder "$P/t5.safetensors" --tokenizer "$D/tokenizer/bf.model"
     -W 64 -H 64 -f 5 --steps 2 -i "$P/image.png")

probe() { # FILE -> width,height,frames
    ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=width,height,nb_read_frames -of csv=p=0 "$1"
}

# t2v with guidance (two passes a step) and Wan's default negative prompt
expect 0 '"frames":9' "$Z" -q t2v "a cat walks across the street" "${T2V[@]}" \
    -o "$TMP/a.mp4" --json
checks=$((checks + 1))
[ "$(probe "$TMP/a.mp4")" = "48,32,9" ] || fail "a.mp4: $(probe "$TMP/a.mp4"), want 48,32,9"

checks=$((checks + 1))
tags=$(ffprobe -v error -show_entries format_tags=prompt,seed,sampler,model -of csv=p=0 "$TMP/a.mp4")
[ "$tags" = "a cat walks across the street,dit21.safetensors,42,unipc" ] ||
    fail "a.mp4 metadata: $tags"

# the same seed, the same bytes, whatever the thread count; another seed differs
expect 0 '"frames":9' "$Z" -q t2v "a cat walks across the street" "${T2V[@]}" \
    -o "$TMP/b.mp4" --json --threads 1
expect 0 '"frames":9' "$Z" -q t2v "a cat walks across the street" "${T2V[@]}" \
    -o "$TMP/c.mp4" --json --seed 43
checks=$((checks + 1))
cmp -s "$TMP/a.mp4" "$TMP/b.mp4" || fail "seed 42 on 2 and 1 threads: different files"
checks=$((checks + 1))
cmp -s "$TMP/a.mp4" "$TMP/c.mp4" && fail "seeds 42 and 43 gave the same file"

# i2v (Wan2.2 TI2V) into PNG frames, without guidance
mkdir "$TMP/png"
expect 0 '"frames":5' "$Z" -q i2v "the disc drifts" "${I2V[@]}" -g 1 --frames-dir "$TMP/png" \
    --json
checks=$((checks + 1))
[ "$(ls "$TMP/png" | wc -l)" -eq 5 ] || fail "png frames: $(ls "$TMP/png" | wc -l), want 5"

# the memory plan: --dry-run shows it, a tiled decode runs, a budget no stage can meet
# is refused at once naming the stage
expect 0 "plan: peak .* in the " "$Z" t2v x "${T2V[@]}" -o "$TMP/dry.mp4" --dry-run
expect 0 '"vae_tile":32' "$Z" -q t2v "a cat walks across the street" "${T2V[@]}" \
    -o "$TMP/tiled.mkv" --json --vae-tile 32 --vae-tile-overlap 8
checks=$((checks + 1))
[ "$(probe "$TMP/tiled.mkv")" = "48,32,9" ] || fail "tiled.mkv: $(probe "$TMP/tiled.mkv")"

# the plan against the peak RSS each stage measured, on the built-in model (the
# default job) into each kind of writer, which is open from the text encoder on: within
# 15%, and of an i2v job (not under ASan, whose shadow memory RSS counts)
if ! ldd "$Z" | grep -q libasan; then
    mkdir -p "$TMP/planpng"
    for dst in plan.mp4 plan.webm planpng/%04d.png i2v.mp4; do
        job=(t2v)
        [ "$dst" = i2v.mp4 ] && job=(i2v -i "$P/image.png") # adds the image encoding stage
        expect 0 '"stages":' "$Z" -q "${job[@]}" -p "a red circle moving left" --seed 1 \
            -o "$TMP/$dst" --json
        checks=$((checks + 1))
        bad=$(grep -oE '"[a-z ]+":\{"planned_mib":[0-9.]+,"measured_mib":[0-9.]+\}' "$TMP/out" |
            sed -E 's/"([a-z ]+)":\{"planned_mib":([0-9.]+),"measured_mib":([0-9.]+)\}/\1:\2:\3/' |
            awk -F: '{ r = $3 / $2; if (r > 1.15 || r < 0.85) printf "%s planned %.1f measured %.1f MiB; ", $1, $2, $3; n++ }
                     END { if (n < 3) print "only " n " stages" }')
        [ -z "$bad" ] || fail "memory plan for $dst: $bad"
    done
fi

# i2v with explicit 16 px tiles: the image encode (Wan2.2: 32 px of picture a tile)
# and the decode both run tiled
expect 0 "image encode tiles of 16 px, overlap 0" "$Z" i2v x "${I2V[@]}" --vae-tile 16 \
    --vae-tile-overlap 0 -o "$TMP/i2v_tiled.mkv" --dry-run
expect 0 '"vae_tile":16' "$Z" -q i2v "the disc drifts" "${I2V[@]}" --vae-tile 16 \
    --vae-tile-overlap 0 -o "$TMP/i2v_tiled.mkv" --json
checks=$((checks + 1))
[ "$(probe "$TMP/i2v_tiled.mkv")" = "64,64,5" ] || fail "i2v_tiled.mkv: $(probe "$TMP/i2v_tiled.mkv")"

# the plan of the stages on a GPU (a dry run with --max-gpu-memory needs no GPU): what
# each allocates there (JSON keys sorted), --offload's share of the weights, the VAE
# tiled to fit, and a stage that cannot fit refused at once with the way out
G=("${T2V[@]}" --device cuda --dry-run -o "$TMP/gpu.mp4")
expect 0 '"denoiser":\{"buffers":[0-9]+,"gpu":[1-9][0-9]*,"gpu_scratch":[0-9]+,"gpu_weights":[1-9]' \
    "$Z" t2v x "${G[@]}" --json --max-gpu-memory 1G
expect 0 '"gpu_budget":1073741824' "$Z" t2v x "${G[@]}" --json --max-gpu-memory 1G
expect 0 '"text encoder":\{"buffers":[0-9]+,"total"' "$Z" t2v x "${G[@]}" --json \
    --text-encoder-device cpu
gpu_weights() { grep -oE '"denoiser":\{[^}]*' "$TMP/out" | grep -oE '"gpu_weights":[0-9]+' | cut -d: -f2; }
run "$Z" t2v x "${G[@]}" --json
whole=$(gpu_weights)
run "$Z" t2v x "${G[@]}" --json --offload
checks=$((checks + 1))
[ -n "$whole" ] && [ -n "$(gpu_weights)" ] && [ "$(gpu_weights)" -lt "$whole" ] ||
    fail "--offload: the denoiser's GPU weights $(gpu_weights), not under $whole"
expect 0 '"vae_tile":256' "$Z" t2v x "${G[@]}" -W 512 -H 512 --json --max-gpu-memory 300M
expect 0 '"vae_tile":0' "$Z" t2v x "${G[@]}" -W 512 -H 512 --json --max-gpu-memory 600M
G=("${T2V[@]}" --device cuda -o "$TMP/gpu.mp4")
expect 3 "memory plan: the vae decode needs .* on the GPU \(weights .*\), more than the GPU budget of 80 MiB \(--max-gpu-memory\); try a smaller --vae-tile, or --vae-device cpu" \
    "$Z" t2v x "${G[@]}" --max-gpu-memory 80M --dry-run
expect 3 "the text encoder needs .* on the GPU .*; --text-encoder-device cpu keeps it in host memory" \
    "$Z" t2v x "${G[@]}" --max-gpu-memory 60M --vae-device cpu --dry-run
expect 3 "the denoiser needs .* on the GPU .*; try --offload" "$Z" t2v x "${G[@]}" \
    --max-gpu-memory 60M --vae-device cpu --text-encoder-device cpu --dry-run
expect 3 "the denoiser needs .* on the GPU .*; lower the size or frame count" "$Z" t2v x \
    "${G[@]}" --max-gpu-memory 60M --vae-device cpu --text-encoder-device cpu --offload --dry-run
expect 1 "--max-gpu-memory: .*max-gpu-memory 'lots' is not a size" "$Z" t2v x "${G[@]}" \
    --max-gpu-memory lots

# refusals: nothing written
mkdir "$TMP/refused"
O=$TMP/refused/x.mp4
expect 1 "frames 10 is not 4k\+1 \(try 13\)" "$Z" t2v x "${T2V[@]}" -f 10 -o "$O"
expect 1 "--width 48: this model needs a multiple of 32 \(try 64\)" "$Z" i2v x "${I2V[@]}" \
    -W 48 -o "$O"
expect 3 "i2v: .* is a Wan2.1 VAE; image-to-video needs the Wan2.2 TI2V-5B" "$Z" i2v x \
    "${T2V[@]}" -i "$P/image.png" -o "$O"
expect 2 "takes 16 latent channels but the VAE .* has 48" "$Z" t2v x "${T2V[@]}" \
    --vae "$D/vae/wan22/original.pth" -W 64 -H 64 -o "$O"
expect 2 "--noise .*t5.safetensors: no tensor 'noise' or 'latents'" "$Z" t2v x "${T2V[@]}" \
    --noise "$P/t5.safetensors" -o "$O"
expect 1 "prompt: invalid UTF-8 at byte 4" "$Z" t2v "$(printf 'bad \xff byte')" "${T2V[@]}" -o "$O"
expect 1 "unknown.*sampler|sampler" "$Z" t2v x "${T2V[@]}" --sampler ddim -o "$O"
# a preset whose files are not there says where to get them
expect 2 "preset wan2.1-t2v-1.3b-480p: download the files from https://huggingface.co/" \
    env ZT_MODEL_PATH="$TMP/none" "$Z" t2v x --preset wan2.1-t2v-1.3b-480p -o "$O"
expect 3 "memory plan: the vae decode needs .* more than the budget of 36 MiB \(--max-memory\)" \
    "$Z" t2v x "${T2V[@]}" --max-memory 36M -o "$O"
expect 1 "--max-memory: .*max-memory 'lots' is not a size" "$Z" t2v x "${T2V[@]}" \
    --max-memory lots -o "$O"
expect 1 "--vae-tile 20 / --vae-tile-overlap 0: this VAE needs multiples of 8" "$Z" t2v x \
    "${T2V[@]}" --vae-tile 20 --vae-tile-overlap 0 -o "$O"
# placement: a bad device name is a usage error; a GPU asked for where there is none
# fails at once (exit 3) with the way out, before any output exists
expect 1 "--device: device 'gpu' is not cpu, cuda or cuda:N" "$Z" t2v x "${T2V[@]}" --device gpu \
    -o "$O"
if ! "$Z" version | grep -q "cuda backend available"; then
    expect 3 "use --device cpu" "$Z" t2v x "${T2V[@]}" --device cuda -o "$O"
    expect 3 "use --device cpu" "$Z" t2v x "${T2V[@]}" --vae-device cuda:0 -o "$O"
fi
no_files "$TMP/refused"
finish
