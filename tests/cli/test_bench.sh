#!/usr/bin/env bash
# zoetrope bench runs its quick sizes and reports sane figures; attention's memory at
# 4096 tokens stays far below what the score matrix would take.
. "$(dirname "$0")/lib.sh"
run "$ZT_BIN" bench --quick --json --threads 2
checks=$((checks + 1))
[ "$rc" -eq 0 ] || fail "bench exit $rc: $err"
python3 - "$TMP/out" <<'PY' || fail "bench output: $out"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["threads"] == 2 and d["quick"] is True
assert d["sgemm_reference_gflops"] > 0
assert {r["weight"] for r in d["linear"]} == {"F32", "BF16"}
assert all(r["gflops"] > 0 and r["seconds"] > 0 for r in d["linear"] + d["conv"])
att = {r["tokens"]: r for r in d["attention"]}
big = att[4096]
assert big["peak_bytes"] < big["score_matrix_bytes"] / 4, big
PY
expect 1 "--threads: expected an integer" "$ZT_BIN" bench --threads x
expect 1 "unknown option '--fast'" "$ZT_BIN" bench --fast
finish
