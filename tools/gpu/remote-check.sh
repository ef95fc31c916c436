#!/usr/bin/env bash
# The GPU check on a lent GPU machine, from a copy of this checkout that carries
# .gpu/pack.tar.xz (tools/gpu/pack-prebuilt.sh) and .whl/ (the Python wheels the
# machine lacks: diffusers and its pure-Python dependencies): installs the wheels into
# /tmp/site, unpacks the binaries into /tmp/.gpu, links this checkout to the path the
# binaries were built at (their test data paths are compiled in) and runs
# tools/gpu-check.sh, whose report goes to REPORT. The check is given a deadline of
# 500 s (the device tool's calls stop at 540) unless the options name one.
#
#   tools/gpu/remote-check.sh REPORT [gpu-check options]
set -uo pipefail
cd "$(dirname "$0")/../.."
report=${1:?usage: tools/gpu/remote-check.sh REPORT [gpu-check options]}
shift

if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || echo "remote-check: installing the wheels failed" >&2
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
elif ! python3 -c "import diffusers" 2>/dev/null; then
  echo "remote-check: no .whl/ (carry it) and no diffusers here: every comparison with" \
    "diffusers, and the generations on its weights, will fail" >&2
fi
[ -f .gpu/pack.tar.xz ] || { echo "remote-check: .gpu/pack.tar.xz is missing" >&2; exit 1; }
python3 -c "import tarfile; tarfile.open('.gpu/pack.tar.xz').extractall('/tmp')" ||
  { echo "remote-check: cannot unpack .gpu/pack.tar.xz" >&2; exit 1; }
# the build's source path, as the tests' data paths name it
src=$(grep -ao '/[[:alnum:]_./-]*/tests/data' /tmp/.gpu/bin/test_cuda_generate | head -1)
src=${src%/tests/data}
if [ -n "$src" ] && [ "$src" != "$PWD" ]; then
  if [ -e "$src" ] && [ ! -L "$src" ]; then
    echo "remote-check: $src exists and is not this checkout; the tests may miss their data" >&2
  else
    mkdir -p "$(dirname "$src")" && ln -sfn "$PWD" "$src"
  fi
fi
deadline=(--deadline 500)
[[ " $* " == *" --deadline "* ]] && deadline=()
exec tools/gpu-check.sh --prebuilt /tmp/.gpu --report "$report" "${deadline[@]}" "$@"
