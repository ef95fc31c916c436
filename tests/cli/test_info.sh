#!/usr/bin/env bash
# zoetrope info: the text table and --json on the committed fixtures (one file and a
# sharded index), --help and usage errors, and bad model files (exit 2, one stderr
# line naming the file).
set -u
: "${ZT_BIN:?}" "${ZT_SRC:?}"
TMP="${ZT_TEST_TMP:-$(mktemp -d)}"
rm -rf "$TMP" && mkdir -p "$TMP"
DATA="$ZT_SRC/tests/data/safetensors"
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run NAME WANT_RC ARGS...: runs zoetrope, keeps stdout/stderr in $TMP/NAME.{out,err}
run() {
    local name=$1 want=$2
    shift 2
    "$ZT_BIN" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    [ "$rc" -eq "$want" ] || fail "$name: exit $rc, wanted $want ($(head -c 300 "$TMP/$name.err"))"
}

has() { grep -qF -- "$2" "$TMP/$1" || fail "$1 lacks '$2'"; }

# bad NAME PATH NEEDLE: exit 2 and exactly one stderr line naming PATH and NEEDLE
bad() {
    local name=$1 path=$2 needle=$3
    run "$name" 2 info "$path"
    local lines
    lines=$(wc -l <"$TMP/$name.err")
    [ "$lines" -eq 1 ] || fail "$name: $lines stderr lines"
    has "$name.err" "zoetrope: $path"
    has "$name.err" "$needle"
    [ -s "$TMP/$name.out" ] && fail "$name: wrote to stdout"
    echo "  $name: $(cat "$TMP/$name.err")"
}

# ---- text ---------------------------------------------------------------------------
run text 0 info "$DATA/small.safetensors"
for n in conv.weight empty ids mask norm.weight positions scalar table video.latent; do
    has text.out "$n"
done
has text.out "tensors: 9"
has text.out "parameters: 43"
has text.out "bytes: 193"
has text.out "format: pt"
has text.out "source: zoetrope fixture"
grep -qE '^video\.latent +F32 +\(1, 2, 2, 1, 2\) +32$' "$TMP/text.out" || fail "video.latent row"
grep -qE '^norm\.weight +F16 +\(5\) +10$' "$TMP/text.out" || fail "norm.weight row"
grep -qE '^ +F32 +84$' "$TMP/text.out" || fail "F32 byte total"
# rows sorted by name
sed -n '2,10p' "$TMP/text.out" | awk '{print $1}' >"$TMP/names"
LC_ALL=C sort -c "$TMP/names" || fail "rows not sorted"
[ -s "$TMP/text.err" ] && fail "text: stderr not empty: $(cat "$TMP/text.err")"

# ---- json ---------------------------------------------------------------------------
run json 0 info --json "$DATA/small.safetensors"
python3 -m json.tool "$TMP/json.out" >/dev/null || fail "--json output is not JSON"
python3 - "$TMP/json.out" <<'EOF' || fail "--json content"
import json, sys
d = json.load(open(sys.argv[1]))
names = [t["name"] for t in d["tensors"]]
assert names == sorted(names), names
assert d["total_tensors"] == 9 and len(names) == 9
assert d["total_parameters"] == 43, d["total_parameters"]
assert d["total_bytes"] == 193
assert d["bytes_by_dtype"] == {"F32": 84, "F16": 10, "F64": 32, "I64": 48, "I32": 16, "BOOL": 3}, d["bytes_by_dtype"]
t = {x["name"]: x for x in d["tensors"]}
assert t["video.latent"]["shape"] == [1, 2, 2, 1, 2] and t["video.latent"]["dtype"] == "F32"
assert t["scalar"]["shape"] == [] and t["scalar"]["parameters"] == 1
assert t["empty"]["bytes"] == 0
assert d["metadata"] == {"format": "pt", "source": "zoetrope fixture"}
assert len(d["files"]) == 1 and d["files"][0]["tensors"] == 9
EOF
if command -v jq >/dev/null; then
    [ "$(jq '.total_tensors' "$TMP/json.out")" = 9 ] || fail "jq total_tensors"
fi

# ---- sharded index ---------------------------------------------------------------------
run index 0 info "$DATA/wan_sharded.safetensors.index.json"
has index.out "tensors: 17"
has index.out "files: 2"
has index.out "total_size: 664"
has index.out "wan_sharded-00002-of-00002.safetensors"
run index_json 0 info "$DATA/wan_sharded.safetensors.index.json" --json
python3 - "$TMP/index_json.out" <<'EOF' || fail "index --json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["total_tensors"] == 17 and len(d["files"]) == 2
assert d["total_bytes"] == int(d["index_metadata"]["total_size"]) == 664
assert d["bytes_by_dtype"] == {"F16": 640, "I64": 24}
assert {t["file"].rsplit("/", 1)[-1] for t in d["tensors"]} == {
    "wan_sharded-00001-of-00002.safetensors", "wan_sharded-00002-of-00002.safetensors"}
EOF
# a shard alone is listed as itself
run shard 0 info "$DATA/wan_sharded-00002-of-00002.safetensors"
has shard.out "tensors: 7"

# ---- help and usage ----------------------------------------------------------------------
run help 0 info --help
has help.out "usage: zoetrope info"
run noargs 1 info
has noargs.err "no model file"
run badflag 1 info --frobnicate "$DATA/small.safetensors"
has badflag.err "unknown option '--frobnicate'"

# ---- bad files ---------------------------------------------------------------------------
bad missing "$TMP/missing.safetensors" "No such file"
: >"$TMP/empty.safetensors"
bad empty "$TMP/empty.safetensors" "empty file"
head -c 100 "$DATA/small.safetensors" >"$TMP/truncated.safetensors"
bad truncated "$TMP/truncated.safetensors" "truncated"
head -c 800 "$DATA/small.safetensors" >"$TMP/short_data.safetensors"
bad short_data "$TMP/short_data.safetensors" "past the end of the data"
printf 'this is not a model at all' >"$TMP/text.safetensors"
bad garbage "$TMP/text.safetensors" "implausible"
mkdir -p "$TMP/emptydir"
bad emptydir "$TMP/emptydir" "no .safetensors file or index"
bad not_index "$DATA/expected.json" "no \"weight_map\""

if [ "$failures" -ne 0 ]; then
    echo "$failures failures" >&2
    exit 1
fi
echo "all info checks passed"
