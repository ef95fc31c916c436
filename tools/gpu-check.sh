#!/usr/bin/env bash
# GPU check for the CUDA backend: builds (or takes prebuilt binaries), runs the CUDA
# parity tests (every op against the CPU backend), a DiT run on both backends from the
# same inputs, the attention op against torch's SDPA, the Wan2.1-1.3B speed and memory
# benchmark against diffusers on the same card, where a step's and a VAE decode's time
# goes (per op), and a whole 50-step generation at 480x832x81 with its peak GPU memory
# (and a short one planned within 3 GiB, as for a small card), then, outside the verdict,
# the experimental implicit-GEMM convolution (ZT_CUDA_CONV=implicit); writes a Markdown report
# as it goes, what the issue asks for first (tests, the step and the VAE against
# diffusers, the whole generation), so a run cut short keeps those.
#
#   tools/gpu-check.sh [--prebuilt DIR] [--report FILE] [--quick] [--deadline SECS]
#                      [--only SECTIONS]
#
# --prebuilt DIR: DIR/bin holds test_cuda*, dit_bench, vae_bench, attn_bench and
#   zoetrope, DIR/lib their libraries (tools/gpu/pack-prebuilt.sh: for GPU machines
#   without FFmpeg or OpenBLAS); otherwise the project is built here with CMake
#   (scripts/deps.sh installs what that needs).
# --quick: the benchmark at 17 frames instead of 81 (a smoke test).
# --deadline SECS: finish within SECS of the start: each step's timeout is cut to the time
#   left, a step that cannot fit is skipped (and fails the check), and the experiment runs
#   only with 150 s to spare, so that a lent machine's time limit never kills the run
#   with the report half written (remote-check.sh passes 500).
# --only SECTIONS: a comma-separated subset of tests, parity, step, vae, e2e, small, attn,
#   variants, profile, experiment (a rerun of what failed, on a machine still warm).
# On a lent GPU machine, tools/gpu/remote-check.sh REPORT sets the prebuilt pack up and
# runs this.
# Needs an NVIDIA GPU (sm_80 or newer); the benchmark needs torch and diffusers.
set -uo pipefail
cd "$(dirname "$0")/.."

prebuilt="" report="gpu-check-report.md" quick=0 deadline=0 only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) prebuilt="$2"; shift 2 ;;
    --report) report="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --deadline) deadline="$2"; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ -n "$prebuilt" ]; then
  bin="$prebuilt/bin"
  export LD_LIBRARY_PATH="$prebuilt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DZT_CUDA=ON >/dev/null &&
    ninja -C build-gpu >/dev/null || { echo "gpu-check: build failed" >&2; exit 1; }
  bin="build-gpu/tests"
  cp build-gpu/tools/dit_bench build-gpu/tools/vae_bench build-gpu/tools/attn_bench \
    build-gpu/zoetrope build-gpu/tests/ 2>/dev/null
fi

fail=0
t_start=$(date +%s)
# Seconds left before the deadline (a day without one).
left() {
  [ "$deadline" -gt 0 ] || { echo 86400; return; }
  echo $(( t_start + deadline - $(date +%s) ))
}
# A step's timeout: SECS, or what the deadline leaves (less 10 s for the report); fails
# (prints nothing) where under 15 s would be left.
tmo() {
  local l=$(( $(left) - 10 ))
  [ "$l" -ge 15 ] || return 1
  echo $(( $1 < l ? $1 : l ))
}
# Whether to run section NAME (--only), and with MIN seconds left; a section of the
# verdict skipped for time fails the check.
want() {
  [ -z "$only" ] || [[ "$only" == *",$1,"* ]] || return 1
  local l; l=$(left)
  if [ "$l" -lt "$2" ]; then
    echo "(skipped: $l s left of the deadline, $2 wanted)"
    echo
    [ "$1" = experiment ] || fail=1
    return 1
  fi
}
# A Python tool's last LINES lines in a fenced block, within SECS (or the deadline), its
# exit status and time after them; its failure fails the check: py SECS LINES SCRIPT ARGS...
py() {
  local secs=$1 lines=$2 t rc start out
  shift 2
  echo '```'
  if t=$(tmo "$secs"); then
    start=$(date +%s) out=$(mktemp)
    PYTHONUNBUFFERED=1 timeout "$t" python3 "$@" >"$out" 2>&1; rc=$?
    tail -"$lines" "$out"
    rm -f "$out"
    echo "(exit $rc, $(( $(date +%s) - start )) s of at most $t)"
  else
    rc=1
    echo "(not run: the deadline is too close)"
  fi
  [ "$rc" -ne 0 ] && fail=1
  echo '```'
  echo
}
{
  echo "# GPU check"
  echo
  echo "Date: $(date -u +%Y-%m-%d), checkout $(git describe --always --dirty 2>/dev/null ||
    echo unknown)"
  [ -n "$prebuilt" ] && [ -f "$prebuilt/BUILD" ] &&
    echo "Binaries: $(cat "$prebuilt/BUILD") (tools/gpu/pack-prebuilt.sh)"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  df -h /tmp 2>&1 | tail -1
  free -g 2>&1 | head -2
  echo '```'
  echo
  missing=$(ldd "$bin"/* 2>/dev/null | grep "not found" | sort -u)
  if [ -n "$missing" ]; then
    echo "Libraries missing for the programs in $bin:"
    echo
    echo '```'
    echo "$missing"
    echo '```'
    echo
    fail=1
  fi
  echo "## Parity: every op on CUDA against the CPU backend"
  echo
  # gpu_test TEST [VAR=VALUE...]: one test program, its environment, its last lines
  gpu_test() {
    local t=$1 secs; shift
    if [ ! -x "$bin/$t" ]; then
      echo "### $t: not in $bin, not run"
      echo
      fail=1
      return
    fi
    if ! secs=$(tmo 120); then
      echo "### $t: not run, the deadline is too close"
      echo
      fail=1
      return
    fi
    start=$(date +%s)
    out=$(env ZT_TEST_TMP=/tmp/zt-gpu-check "$@" timeout "$secs" "$bin/$t" 2>&1); rc=$?
    secs=$(( $(date +%s) - start ))
    [ $rc -ne 0 ] && fail=1
    echo "### ${*:+$* }$t: exit $rc (${secs} s)"
    echo
    echo '```'
    echo "$out" | tail -60
    echo '```'
    echo
  }
  if want tests 60; then
    for t in test_cuda test_cuda_elementwise test_cuda_attention test_cuda_conv test_cuda_vae \
      test_cuda_models test_cuda_generate; do
      gpu_test $t
    done
    echo "As a card whose blocks get 99 KB of shared memory (sm_86, sm_89): the attention"
    echo "kernels' variants for it (the flash kernel 32 keys a step; the f32 kernel fewer"
    echo "keys a chunk, for head dims such as the Wan VAEs' 384 and 1024)."
    echo
    gpu_test test_cuda_attention ZT_CUDA_SMEM_OPTIN=101376
  fi

  echo "## The Wan DiT on both backends, same inputs"
  echo
  echo "tests/data/pipeline/dit21.safetensors (2 layers), 17 frames 128x128, 3 UniPC steps with"
  echo "guidance 5, final latents compared."
  echo
  if want parity 60; then
  echo '```'
  tiny() {
    timeout 60 "$bin/dit_bench" tests/data/pipeline/dit21.safetensors 17 128 128 3 "$@" 2>&1
  }
  tiny -1 /tmp/zt-cpu.f32 && tiny 0 /tmp/zt-gpu.f32 && tiny 0 /tmp/zt-gpu2.f32 &&
    python3 - <<'PY'
import numpy as np
c = np.fromfile("/tmp/zt-cpu.f32", np.float32); g = np.fromfile("/tmp/zt-gpu.f32", np.float32)
g2 = np.fromfile("/tmp/zt-gpu2.f32", np.float32)
err = np.abs(c - g).max() / np.abs(c).max()
print(f"max |cpu - cuda| / max |cpu| = {err:.3e}; cuda run to run identical: {bool((g == g2).all())}")
raise SystemExit(0 if err < 2e-2 and (g == g2).all() else 1)
PY
  [ $? -ne 0 ] && fail=1
  echo '```'
  echo
  fi

  echo "## Wan2.1-1.3B, random bf16 weights: one step with guidance, against diffusers"
  echo
  frames=81; [ $quick = 1 ] && frames=17
  want step 90 && py 300 20 tools/gpu/bench_diffusers.py --zt-bench "$bin/dit_bench" \
    --frames $frames

  echo "## Wan2.1 VAE, random weights: decoding against diffusers"
  echo
  want vae 90 && py 300 20 tools/gpu/bench_vae.py --zt-bench "$bin/vae_bench" --frames $frames

  echo "## A whole generation: 50 steps at 480x832x81, text encoder on the CPU"
  echo
  echo "zoetrope t2v on the weights above (the DiT and the VAE on CUDA), umT5-XXL at full"
  echo "size with random weights on the CPU, into an MP4 (tools/gpu/e2e_generate.py). The"
  echo "target: peak GPU memory within 8 GiB. device_peak_mib is zoetrope's count of its"
  echo "allocations (as torch.cuda.max_memory_allocated); nvidia_smi_peak_mib adds the CUDA"
  echo "context."
  echo
  steps=50; [ $quick = 1 ] && steps=3
  want e2e 150 && py 400 20 tools/gpu/e2e_generate.py --zoetrope "$bin/zoetrope" \
    --frames $frames --steps $steps

  echo "## A small card: the same generation planned within --max-gpu-memory 3G"
  echo
  echo "2 steps, --offload, umT5 with 2 of its layers (the GPU's memory does not depend on"
  echo "them): the plan keeps two blocks on the card and tiles the VAE decode to fit 3 GiB;"
  echo "device_peak_mib must stay within it."
  echo
  want small 60 && py 240 20 tools/gpu/e2e_generate.py --zoetrope "$bin/zoetrope" \
    --frames $frames --steps 2 --t5-layers 2 --max-gpu-memory 3G --offload --limit-gib 3

  echo "## Attention alone: Zoetrope's op against torch's SDPA"
  echo
  echo "Wan2.1-1.3B's shapes (12 heads of 128): self-attention over the 32760 tokens of 81"
  echo "frames at 480x832, cross-attention to 512 text tokens. Zoetrope: f32 in and out, the"
  echo "bf16 packing included; zoetrope_overlap: the Hopper kernel issuing P V and the next S"
  echo "together (ZT_CUDA_ATTN=overlap); zoetrope_mma: the sm_80 kernel (ZT_CUDA_ATTN=mma)."
  echo
  want attn 40 && py 180 10 tools/gpu/bench_attention.py --zt-bench "$bin/attn_bench" \
    --tokens $([ $quick = 1 ] && echo 6552 || echo 32760)

  echo "## The same weights, Zoetrope alone: other kernels, paths and placements"
  echo
  # Zoetrope alone on the weights bench_diffusers.py wrote: STEPS on device 0
  dit() {
    local t
    t=$(tmo 120) || { echo "(not run: the deadline is too close)"; return 1; }
    timeout "$t" "$bin/dit_bench" /tmp/wan21-1.3b-random.safetensors $frames 832 480 "$1" 0 2>&1
  }
  if want variants 60; then
  echo '```'
  echo
  echo "Zoetrope alone, the same weights, with the Hopper attention's second schedule"
  echo "(ZT_CUDA_ATTN=overlap; compare with zoetrope_step_seconds above):"
  ZT_CUDA_ATTN=overlap dit 3 || fail=1
  echo
  echo "Zoetrope alone, the same weights, without the fused q/k/v and feed-forward products"
  echo "and the fused norms (ZT_CUDA_FUSE=0):"
  ZT_CUDA_FUSE=0 dit 3 || fail=1
  echo
  echo "Zoetrope alone, the same weights, the feed-forward over all rows at once instead of"
  echo "chunks of 8192 in k and v's memory (ZT_BENCH_FFN_ROWS; the chunks save 1.17 GB):"
  ZT_BENCH_FFN_ROWS=1000000 dit 3 || fail=1
  echo
  echo "The same weights with the blocks offloaded (copied in as they run):"
  ZT_BENCH_OFFLOAD=1 dit 2 || fail=1
  echo '```'
  echo
  fi
  echo "## Where the time goes: one step with guidance, every op waited for (ZT_PROFILE_OPS=1)"
  echo
  if want profile 40; then
  echo '```'
  ZT_PROFILE_OPS=1 dit 1 | tail -40
  [ ${PIPESTATUS[0]} -ne 0 ] && fail=1
  echo '```'
  echo
  echo "## Where the VAE's time goes: the untiled decode above, every op waited for"
  echo
  echo "Convolutions by kernel and channels; TFLOP/s counts the direct form's multiply-adds."
  echo
  echo '```'
  if t=$(tmo 120); then
    ZT_PROFILE_OPS=1 timeout "$t" "$bin/vae_bench" /tmp/wan21-vae-random.safetensors $frames \
      832 480 0 0 2>&1 | tail -40
    [ ${PIPESTATUS[0]} -ne 0 ] && fail=1
  else
    echo "(not run: the deadline is too close)"
    fail=1
  fi
  echo '```'
  echo
  fi
  echo "gpu-check: $(( $(date +%s) - t_start )) s in all, exit $fail${only:+ (only ${only:1:-1})}"
  echo

  # Not part of the verdict above: a path that is off by default, measured here so that
  # the next session can decide whether to make it the default.
  t_exp=$(date +%s)
  echo "## Experiment: the implicit-GEMM convolution (ZT_CUDA_CONV=implicit)"
  echo
  if want experiment 150; then
  echo "Off by default and not counted in the exit status above. The VAE's convolutions"
  echo "(stride 1, 3x3 or 1x1 taps) as TF32 tensor-core products over a shared-memory"
  echo "halo (kernels/conv.cu, tiling in src/backends/cuda/conv_tiles.h) instead of the"
  echo "column matrix through cuBLAS: parity with the CPU, the same untiled decode as above"
  echo "both ways in this run, the two paths' frames compared, and where its time goes."
  echo
  echo '```'
  export ZT_TEST_TMP=/tmp/zt-gpu-check
  ZT_CUDA_CONV=implicit timeout "$(tmo 120 || echo 1)" "$bin/test_cuda_conv" 2>&1 | tail -45
  echo "test_cuda_conv, ZT_CUDA_CONV=implicit: exit ${PIPESTATUS[0]}"
  ZT_CUDA_CONV=implicit timeout "$(tmo 120 || echo 1)" "$bin/test_cuda_vae" 2>&1 | tail -12
  echo "test_cuda_vae, ZT_CUDA_CONV=implicit: exit ${PIPESTATUS[0]}"
  vae=/tmp/wan21-vae-random.safetensors
  echo
  echo "VAE decode, $frames frames 480x832 untiled, column path then implicit:"
  timeout "$(tmo 120 || echo 1)" "$bin/vae_bench" $vae $frames 832 480 0 0 2>&1
  ZT_CUDA_CONV=implicit timeout "$(tmo 120 || echo 1)" "$bin/vae_bench" $vae $frames 832 480 0 0 \
    2>&1
  echo
  echo "17 frames 480x832, both paths' frames compared:"
  t60() { tmo 60 || echo 1; }
  timeout "$(t60)" "$bin/vae_bench" $vae 17 832 480 0 0 /tmp/zt-vae-col.f32 >/dev/null &&
    ZT_CUDA_CONV=implicit timeout "$(t60)" "$bin/vae_bench" $vae 17 832 480 0 0 \
      /tmp/zt-vae-imp.f32 >/dev/null &&
    python3 - <<'PY'
import numpy as np
a = np.fromfile("/tmp/zt-vae-col.f32", np.float32)
b = np.fromfile("/tmp/zt-vae-imp.f32", np.float32)
mse = float(np.mean((a.clip(-1, 1) - b.clip(-1, 1)) ** 2))
psnr = 10 * np.log10(4.0 / mse) if mse > 0 else float("inf")
print(f"implicit vs column path: PSNR {psnr:.1f} dB (range [-1, 1]), "
      f"max |diff| {np.abs(a - b).max():.3e}")
PY
  echo
  echo "Where the implicit decode's time goes, 17 frames (ZT_PROFILE_OPS=1):"
  ZT_PROFILE_OPS=1 ZT_CUDA_CONV=implicit timeout "$(tmo 120 || echo 1)" "$bin/vae_bench" $vae 17 \
    832 480 0 0 2>&1 | tail -30
  echo '```'
  echo
  echo "experiment: $(( $(date +%s) - t_exp )) s"
  fi
} > "$report"
cat "$report"
exit $fail
