#!/usr/bin/env bash
# test_vae.sh - `zoetrope vae decode`: saved latents of the tiny Wan VAE fixtures to a
# video (frame count and size by ffprobe), the same frames from every weight format,
# and the error cases (exit code, one line naming the culprit, nothing left behind).
. "$(dirname "$0")/lib.sh"
command -v ffprobe >/dev/null || { echo "ffprobe not found"; exit 1; }

D="$ZT_SRC/tests/data/vae"
LAT21="$D/wan21/cases.safetensors"

# 5 latent frames of 3x5 -> 17 frames of 40x24
expect 0 '"frames": 17' "$ZT_BIN" -q vae decode "$LAT21" --tensor latent.5x24x40 \
    --vae "$D/wan21/original.safetensors" -o "$TMP/v21.mp4" --json
checks=$((checks + 1))
got=$(ffprobe -v error -count_frames -select_streams v:0 \
    -show_entries stream=width,height,nb_read_frames -of csv=p=0 "$TMP/v21.mp4")
[ "$got" = "40,24,17" ] || fail "v21.mp4: width,height,frames $got, want 40,24,17"

# the same frames, bit for bit, from diffusers' names and from the .pth
for f in original.safetensors diffusers.safetensors original.pth; do
    expect 0 '"frames": 17' "$ZT_BIN" -q vae decode "$LAT21" --tensor latent.5x24x40 \
        --vae "$D/wan21/$f" --dump-f32 "$TMP/$f.f32" --json
done
checks=$((checks + 1))
cmp -s "$TMP/original.safetensors.f32" "$TMP/diffusers.safetensors.f32" &&
    cmp -s "$TMP/original.safetensors.f32" "$TMP/original.pth.f32" ||
    fail "weight formats decode differently"
checks=$((checks + 1))
[ "$(stat -c %s "$TMP/original.pth.f32")" -eq $((3 * 17 * 24 * 40 * 4)) ] ||
    fail "dump size $(stat -c %s "$TMP/original.pth.f32")"

# Wan2.2 (16x spatial): 9 latent frames of 2x2 -> 33 PNG frames of 32x32
mkdir "$TMP/png"
expect 0 '"width": 32' "$ZT_BIN" -q vae decode "$D/wan22/cases.safetensors" \
    --tensor latent.9x32x32 --vae "$D/wan22/diffusers.safetensors" -o "$TMP/png/" --json
checks=$((checks + 1))
[ "$(ls "$TMP/png" | wc -l)" -eq 33 ] || fail "png frames: $(ls "$TMP/png" | wc -l), want 33"

# tiled: 16 px tiles sharing 8 (the scratch file goes to $TMPDIR and is gone after);
# the frames match untiled closely, not exactly (the tiles' attention sees less)
mkdir "$TMP/scratch"
TMPDIR="$TMP/scratch" expect 0 '"vae_tile": 16' "$ZT_BIN" -q vae decode "$LAT21" \
    --tensor latent.5x24x40 --vae "$D/wan21/original.pth" --vae-tile 16 --vae-tile-overlap 8 \
    --dump-f32 "$TMP/tiled.f32" --json
checks=$((checks + 1))
[ "$(stat -c %s "$TMP/tiled.f32")" -eq $((3 * 17 * 24 * 40 * 4)) ] || fail "tiled dump size"
no_files "$TMP/scratch"
expect 1 "tile 20 with overlap 0: the tile and overlap must be multiples of 8" "$ZT_BIN" \
    vae decode "$LAT21" --tensor latent.5x24x40 --vae "$D/wan21/original.pth" --vae-tile 20 \
    -o "$TMP/never.mp4"

# errors: one line, exit 2 for bad input, nothing written
mkdir "$TMP/out"
expect 2 "no tensor 'nope'" "$ZT_BIN" vae decode "$LAT21" --tensor nope \
    --vae "$D/wan21/original.pth" -o "$TMP/out/x.mp4"
expect 2 "the VAE takes \[48, T, h, w\]" "$ZT_BIN" vae decode "$LAT21" \
    --tensor latent.5x24x40 --vae "$D/wan22/original.pth" -o "$TMP/out/x.mp4"
expect 2 "missing.pth: cannot open" "$ZT_BIN" vae decode "$LAT21" \
    --tensor latent.5x24x40 --vae "$TMP/missing.pth" -o "$TMP/out/x.mp4"
expect 2 "forbidden pickle global 'os.system'" "$ZT_BIN" vae decode "$LAT21" \
    --tensor latent.5x24x40 --vae "$ZT_SRC/tests/data/pth/evil_os_system.pth" \
    -o "$TMP/out/x.mp4"
expect 2 "README.md" "$ZT_BIN" vae decode "$ZT_SRC/README.md" \
    --vae "$D/wan21/original.pth" -o "$TMP/out/x.mp4"
expect 1 "no --vae given" "$ZT_BIN" vae decode "$LAT21" -o "$TMP/out/x.mp4"
expect 1 "expected 'decode'" "$ZT_BIN" vae "$LAT21"
no_files "$TMP/out"
expect 2 "nodir" "$ZT_BIN" vae decode "$LAT21" --tensor latent.5x24x40 \
    --vae "$D/wan21/original.pth" -o "$TMP/nodir/x.mp4"

finish
