#!/usr/bin/env bash
# Try transformer recipes for zoetrope-tiny side by side on one GPU, to choose which one
# the CPU run of train.sh should spend its 3 hours on. Each variant is train.py's dit
# stage from scratch with --device cuda (the same draws as on the CPU; only the float
# summation order differs), all of them at once, each stopped after --max-seconds.
#
#   tools/tiny/explore_gpu.sh SRC DST SECONDS 'NAME:OPTIONS' ...
#
# SRC holds vae.pt and spiece.model (out/tiny); the latents of revision 2, plain and
# --twins, are taken from SRC/latents-plain.npz and SRC/latents-twins.npz where they
# are, else made here on the GPU. DST gets NAME.pt per variant (the EMA weights in
# f32, the raw ones in bf16, the step reached) and logs.tar.gz (logs and loss curves);
# evaluate one with eval_engine.py after rebuilding a dit.pt from it (NOTES.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$1 dst=$2 secs=$3
shift 3
w=${EXPLORE_TMP:-/tmp/zt-explore} dev=${EXPLORE_DEVICE:-cuda} clips=${EXPLORE_CLIPS:-768}
mkdir -p "$w/plain" "$w/twins" "$dst"
for d in plain twins; do  # (vae.pt is needed only where latents are made here)
  cp "$src/spiece.model" "$w/$d/"
  [ ! -f "$src/vae.pt" ] || cp "$src/vae.pt" "$w/$d/"
done
# latents made elsewhere (on the CPU, as train.sh makes them) are used as they are;
# only the kinds some variant trains on are made
need=
for v in "$@"; do
  case " ${v#*:} " in *" --dit-twins 1 "*) need="$need twins" ;; *) need="$need plain" ;; esac
done
for d in plain twins; do
  case " $need " in *" $d "*) ;; *) continue ;; esac
  if [ -f "$src/latents-$d.npz" ]; then
    cp "$src/latents-$d.npz" "$w/$d/latents.npz"
  else
    python3 tools/tiny/train.py latents --out "$w/$d" --device "$dev" --threads 4 --clips "$clips" \
      $([ $d = twins ] && echo --twins 1) >"$w/$d.log" 2>&1 &
  fi
done
wait
for v in "$@"; do
  name=${v%%:*} opts=${v#*:}
  lat=plain
  case " $opts " in *" --dit-twins 1 "*) lat=twins ;; esac
  mkdir -p "$w/$name"
  for f in latents.npz spiece.model; do ln -sf "$w/$lat/$f" "$w/$name/$f"; done
  # shellcheck disable=SC2086
  python3 tools/tiny/train.py dit --out "$w/$name" --device "$dev" --threads 2 \
    --dit-steps 10000 --dit-until 9000 --ckpt-every 100000 --max-seconds "$secs" $opts \
    >"$w/$name.log" 2>&1 &
done
wait || true
for v in "$@"; do
  name=${v%%:*}
  python3 - "$w/$name" "$dst/$name.pt" <<'PY' || echo "explore: $name has no checkpoint"
import sys, numpy as np, torch
st = torch.load(sys.argv[1] + "/dit.pt", weights_only=False)
d = np.load(sys.argv[1] + "/latents.npz")
torch.save(dict(te={k: v.bfloat16() for k, v in st["te"].items()},
                dit={k: v.bfloat16() for k, v in st["dit"].items()},
                ema=st["ema"], step=st["step"], recipe=st["recipe"], mean=d["mean"], std=d["std"]),
           sys.argv[2])
print(sys.argv[2], "step", st["step"])
PY
done
tar czf "$dst/logs.tar.gz" -C "$w" --exclude='*.npz' --exclude='*.pt' --exclude='*.model' .
