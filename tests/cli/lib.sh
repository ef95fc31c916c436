# Helpers for the command-line tests. Sourced; expects ZT_BIN, ZT_SRC, ZT_TEST_TMP.
set -u
: "${ZT_BIN:?}" "${ZT_SRC:?}"
TMP=${ZT_TEST_TMP:-$(mktemp -d)}
rm -rf "$TMP" && mkdir -p "$TMP"
failures=0
checks=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run CMD...: sets $rc, $out, $err (files $TMP/out, $TMP/err)
run() {
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    out=$(cat "$TMP/out")
    err=$(cat "$TMP/err")
}

# expect CODE PATTERN CMD...: exit code CODE; when CODE != 0, stderr is exactly one
# line matching PATTERN (grep -E); when CODE == 0, stdout matches PATTERN.
expect() {
    local code=$1 pat=$2
    shift 2
    checks=$((checks + 1))
    run "$@"
    if [ "$rc" -ne "$code" ]; then
        fail "$* -> exit $rc, wanted $code; stderr: $err"
        return
    fi
    if [ "$code" -ne 0 ]; then
        local lines
        lines=$(grep -c '' "$TMP/err")
        [ "$lines" -eq 1 ] || fail "$* -> $lines stderr lines, wanted 1: $err"
        grep -qE -- "$pat" "$TMP/err" || fail "$* -> stderr '$err' lacks /$pat/"
        grep -qiE "sanitizer|runtime error" "$TMP/err" && fail "$* -> sanitizer report"
    else
        grep -qE -- "$pat" "$TMP/out" || fail "$* -> stdout lacks /$pat/: $out"
    fi
}

# no_files DIR: DIR holds no files (outputs and temporaries alike)
no_files() {
    checks=$((checks + 1))
    local n
    n=$(find "$1" -mindepth 1 | wc -l)
    [ "$n" -eq 0 ] || fail "left behind in $1: $(find "$1" -mindepth 1 | head -3 | tr '\n' ' ')"
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures of $checks checks failed" >&2
        exit 1
    fi
    echo "all $checks checks passed"
    exit 0
}
