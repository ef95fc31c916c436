#!/usr/bin/env bash
# Build the libFuzzer harnesses (tests/fuzz/) and run each for a while.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     (60 s each; all six by default)
#
# build-fuzz/corpus/<harness>/ is each harness's working corpus: it keeps what earlier
# runs found and is seeded on every run from tests/fuzz/corpus/<harness>/ and the test
# data. Crashes go to build-fuzz/artifacts/<harness>/, logs to build-fuzz/logs/.
# ZT_JOBS sets the build parallelism (default: nproc). Exits non-zero when any harness
# crashed, leaked, hit undefined behaviour, ran out of memory or timed out.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

all=(fuzz_safetensors fuzz_pth fuzz_preset fuzz_job fuzz_tokenizer fuzz_image)
secs=${1:-60}
[ $# -gt 0 ] && shift
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [HARNESS...]  (harnesses: ${all[*]})" >&2
  exit 2
fi
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
for h in "${harnesses[@]}"; do
  if ! [[ " ${all[*]} " == *" $h "* ]]; then
    echo "fuzz.sh: unknown harness '$h' (harnesses: ${all[*]})" >&2
    exit 2
  fi
done

scripts/deps.sh

jobs=${ZT_JOBS:-$(nproc)}
out=build-fuzz
echo "== fuzz build (clang, libFuzzer + ASan + UBSan)" >&2
cmake -S . -B "$out" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DZT_FUZZ=ON -DZT_CUDA=OFF -DZT_BUILD_TESTS=OFF -DZT_NATIVE=OFF >/dev/null
cmake --build "$out" -j "$jobs" --target "${harnesses[@]}"

# ---- seeds ---------------------------------------------------------------------------

# copy FILE... into DIR as seed-<name>, skipping files of 100 kB or more
seed() {
  local dir=$1 f
  shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    [ "$(stat -c %s "$f")" -lt 102400 ] || continue
    cp "$f" "$dir/seed-$(basename "$f")"
  done
}

# the tokenizer harness reads its first byte as a mode: 0 = a tokenizer file follows.
# The real models (300-400 kB) are left out as seeds by the same size rule: each run
# of one costs some 10 ms. The harness encodes prompts with them instead, and the
# hand-made seeds carry a small character map.
seed_tokenizer_file() {
  local dir=$1 f
  shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    [ "$(stat -c %s "$f")" -lt 102400 ] || continue
    { printf '\0'; cat "$f"; } >"$dir/seed-$(basename "$f")"
  done
}

# prompts from the tokenizer and cleaning tests, each for one of the harness's three
# tokenizers (mode 1, 3, 5: a prompt for tokenizer 0, 1, 2)
seed_prompts() {
  local dir=$1
  command -v python3 >/dev/null || return 0
  python3 - "$dir" tests/data/tokenizer/cases.json tests/data/text/clean.json <<'EOF'
import json, sys
out, cases, clean = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
texts = cases["texts"][:200] + [c[0] for c in clean["cases"]]
for i, t in enumerate(texts):
    with open(f"{out}/seed-prompt-{i:04d}", "wb") as f:
        f.write(bytes([1 + 2 * (i % 3)]) + t.encode("utf-8", "surrogatepass"))
EOF
}

populate() {
  local h=$1 dir=$2
  mkdir -p "$dir"
  [ -d "tests/fuzz/corpus/$h" ] && cp tests/fuzz/corpus/"$h"/* "$dir"/ 2>/dev/null || true
  case $h in
  fuzz_safetensors) seed "$dir" tests/data/safetensors/*.safetensors tests/data/pth/*.safetensors ;;
  fuzz_pth) seed "$dir" tests/data/pth/*.pth ;;
  fuzz_preset) seed "$dir" tests/data/presets/*.cfg presets/*.cfg ;;
  fuzz_job) seed "$dir" examples/ci/shots.cfg ;;
  fuzz_tokenizer)
    seed_tokenizer_file "$dir" tests/data/tokenizer/*.model \
      $(ls tests/data/tokenizer/*.json | grep -v /cases.json)
    seed_prompts "$dir"
    ;;
  fuzz_image)
    seed "$dir" $(find tests/data docs -type f \( -iname '*.png' -o -iname '*.jpg' \
      -o -iname '*.jpeg' \) -size -100k | sort)
    ;;
  esac
}

# ---- runs --------------------------------------------------------------------------------

mkdir -p "$out/logs" "$out/work"
failed=()
for h in "${harnesses[@]}"; do
  corpus=$root/$out/corpus/$h
  artifacts=$root/$out/artifacts/$h
  log=$root/$out/logs/$h.log
  populate "$h" "$corpus"
  mkdir -p "$artifacts" "$out/work/$h"
  dict=()
  [ -f "tests/fuzz/$h.dict" ] && dict=(-dict="$root/tests/fuzz/$h.dict")
  echo "== $h: ${secs} s on $(ls "$corpus" | wc -l) inputs" >&2
  # run in a scratch directory: a preset may name files relative to it (@include);
  # stdin is /dev/null so that no input can make a reader wait on the terminal
  rc=0
  (cd "$out/work/$h" && OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0" \
    "$root/$out/fuzz/$h" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "${dict[@]}" "$corpus" \
    </dev/null >"$log" 2>&1) || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(ls "$corpus" | wc -l)
  kb=$(( $(du -sb "$corpus" | cut -f1) / 1024 ))
  if [ "$rc" -eq 0 ]; then
    verdict="nothing found"
  else
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    what=$(grep -m1 -oE '(ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|fuzz): .*' \
      "$log" || true)
    verdict="FOUND (exit $rc): ${what:-see the log}; input ${artifact:-not saved}"
    failed+=("$h")
  fi
  printf '%-17s %10s execs (%s/s), corpus %s files (%s kB): %s\n' "$h" "${execs:-?}" \
    "${rate:-?}" "$files" "$kb" "$verdict"
done
echo "logs in $out/logs/" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in ${failed[*]}" >&2
  exit 1
fi
