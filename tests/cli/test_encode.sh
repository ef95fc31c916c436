#!/usr/bin/env bash
# test_encode.sh - `zoetrope encode` end to end: every output format checked with
# ffprobe (codec, pixel format, frame count, frame rate, duration, metadata), y4m on
# stdout, the error cases (exit code, one line on stderr naming the culprit, nothing
# left behind) and SIGTERM in the middle of an encode.
set -u
: "${ZT_BIN:?ZT_BIN must name the zoetrope binary}"
T=${ZT_TEST_TMP:-$(mktemp -d)}
rm -rf "$T" && mkdir -p "$T"
command -v ffprobe >/dev/null || { echo "ffprobe not found"; exit 1; }

fails=0
checks=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
    checks=$((checks + 1))
    local what=$1; shift
    "$@" || fail "$what"
}
eq() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'" >&2; return 1; }; }
near() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a - b < 0.02 && b - a < 0.02) }' ||
    { echo "  got $1, want $2" >&2; return 1; }; }
empty_dir() { [ -z "$(ls -A "$1")" ] || { echo "  left in $1:" $(ls -A "$1") >&2; return 1; }; }
# one ffprobe per file (each start costs a noticeable fraction of a second); field KEY
# then reads the last probe: codec_name, pix_fmt, r_frame_rate, nb_read_frames,
# duration (the container's), TAG:name (case as stored)
probe() {
    ffprobe -v error -select_streams v:0 -count_frames -show_entries \
        stream=codec_name,pix_fmt,r_frame_rate,nb_read_frames:format=duration:format_tags \
        -of default=nw=1 "$@" >"$T/probe.txt" 2>&1
}
field() { grep -i -m1 "^$1=" "$T/probe.txt" | cut -d= -f2-; }

# ---- input frames: the test pattern written as a PNG sequence only -------------------
mkdir "$T/frames"
check "pattern to --frames-dir" "$ZT_BIN" -q encode --pattern bars --width 64 --height 48 \
    --frames 9 --frames-dir "$T/frames"
check "9 frames 0001..0009" eq "$(ls "$T/frames" | tr '\n' ' ')" \
    "0001.png 0002.png 0003.png 0004.png 0005.png 0006.png 0007.png 0008.png 0009.png "

# ---- every format -----------------------------------------------------------------------
# ext codec pix_fmt
while read -r ext codec pix; do
    out="$T/out.$ext"
    "$ZT_BIN" -q encode "$T/frames" -o "$out" --fps 10 --json >"$T/$ext.json" 2>"$T/$ext.err"
    rc=$?
    check "$ext: exit 0 ($(cat "$T/$ext.err"))" eq "$rc" 0
    [ -s "$out" ] || { fail "$ext: no output"; continue; }
    probe "$out"
    check "$ext: codec" eq "$(field codec_name)" "$codec"
    check "$ext: pix_fmt" eq "$(field pix_fmt)" "$pix"
    check "$ext: frame count" eq "$(field nb_read_frames)" 9
    check "$ext: frame rate" eq "$(field r_frame_rate)" "10/1"
    check "$ext: duration" near "$(field duration)" 0.9
    check "$ext: json" grep -q "\"output\":\"$out\",\"codec\":\"[a-z0-9]*\",\"frames\":9,\"width\":64,\"height\":48,\"fps\":10" "$T/$ext.json"
    case $ext in mp4 | webm | mkv)
        check "$ext: version tag" grep -q '^[0-9]' <(field TAG:zoetrope_version) ;;
    esac
done <<'EOF'
mp4 h264 yuv420p
webm vp9 yuv420p
mkv ffv1 bgr0
gif gif bgra
y4m rawvideo yuv420p
EOF
check "no temporaries beside the outputs" eq "$(ls -A "$T" | grep -c '^\.')" 0

# fractional rate, explicit codec in another container, bitrate, pattern metadata
check "h264 in mkv at 30000/1001" "$ZT_BIN" -q encode --pattern gradient --width 64 \
    --height 48 --frames 6 --fps 30000/1001 --codec h264 --bitrate 300k -o "$T/frac.mkv"
probe "$T/frac.mkv"
check "frac.mkv codec" eq "$(field codec_name)" h264
check "frac.mkv rate" eq "$(field r_frame_rate)" "30000/1001"
check "frac.mkv frames" eq "$(field nb_read_frames)" 6
check "pattern mp4" "$ZT_BIN" -q encode --pattern bars --width 64 --height 48 --frames 5 \
    --crf 30 -o "$T/pat.mp4"
probe "$T/pat.mp4"
check "pattern tag" eq "$(field TAG:pattern)" bars

# ---- PNG sequence out: exact copies of the input frames ----------------------------------
mkdir "$T/seq"
check "png sequence" "$ZT_BIN" -q encode "$T/frames/%04d.png" -o "$T/seq/f%03d.png"
check "png frames" eq "$(ls "$T/seq" | wc -l)" 9
probe -f image2 -i "$T/seq/f%03d.png"
check "png codec" eq "$(field codec_name)" png
check "png pix_fmt" eq "$(field pix_fmt)" rgb24
check "png sequence frame count" eq "$(field nb_read_frames)" 9
for i in 1 5 9; do
    check "frame $i byte-identical" cmp -s "$T/frames/000$i.png" "$T/seq/f00$i.png"
done
check "--frames limits" "$ZT_BIN" -q encode "$T/frames" --frames 4 -o "$T/four.y4m"
probe "$T/four.y4m"
check "4 frames" eq "$(field nb_read_frames)" 4

# ---- y4m on stdout -------------------------------------------------------------------------
"$ZT_BIN" -q encode "$T/frames" --fps 10 -o - >"$T/stdout.y4m" 2>"$T/stdout.err"
check "stdout exit 0 ($(cat "$T/stdout.err"))" eq "$?" 0
check "stdout equals the file" cmp -s "$T/stdout.y4m" "$T/out.y4m"
check "stdout piped into ffprobe" eq "$("$ZT_BIN" -q encode "$T/frames" -o - |
    ffprobe -v error -count_frames -show_entries stream=codec_name,nb_read_frames \
        -of csv=p=0 -i -)" "rawvideo,9"

# ---- errors: exit code, exactly one line naming the culprit, nothing left behind ------------
mkdir "$T/err" "$T/badframes"
cp "$T/frames/"*.png "$T/badframes/"
echo "not a picture" >"$T/badframes/0005.png"
# expect EXIT NEEDLE ARGS...
expect() {
    local want=$1 needle=$2; shift 2
    "$ZT_BIN" "$@" >"$T/e.out" 2>"$T/e.err"
    local rc=$?
    checks=$((checks + 1))
    if [ "$rc" != "$want" ]; then fail "$*: exit $rc, want $want"; fi
    if [ "$(wc -l <"$T/e.err")" != 1 ]; then fail "$*: stderr is not one line:"; cat "$T/e.err" >&2; fi
    if ! grep -qF -- "$needle" "$T/e.err"; then fail "$*: stderr lacks '$needle':"; cat "$T/e.err" >&2; fi
    if ! empty_dir "$T/err"; then fail "$*: files left behind"; rm -rf "$T/err" && mkdir "$T/err"; fi
}
expect 2 "$T/nope" encode "$T/nope" -o "$T/err/a.mp4"
expect 2 "$T/nope/%04d.png" encode "$T/nope/%04d.png" -o "$T/err/a.mp4"
expect 2 "$T/badframes/0005.png" -q encode "$T/badframes" -o "$T/err/a.mp4"
expect 2 "$T/badframes/0005.png" -q encode "$T/badframes" -o "$T/err/"
expect 2 "$T/badframes/0005.png" -q encode "$T/badframes" -o "$T/err/a.mkv" --frames-dir "$T/err"
expect 1 "prores" encode "$T/frames" -o "$T/err/a.mp4" --codec prores
expect 1 ".avi" encode "$T/frames" -o "$T/err/a.avi"
expect 2 "$T/err/nodir" encode "$T/frames" -o "$T/err/nodir/a.mp4"
expect 2 "$T/err/nodir" encode "$T/frames" -o "$T/err/nodir/"
expect 2 "$T/err/nodir" encode "$T/frames" -o "$T/err/a.mp4" --frames-dir "$T/err/nodir"
expect 1 "--bogus" encode "$T/frames" -o "$T/err/a.mp4" --bogus
expect 1 "--crf" encode "$T/frames" -o "$T/err/a.mp4" --crf abc
expect 1 "--fps" encode "$T/frames" -o "$T/err/a.mp4" --fps 0
expect 1 "even" encode --pattern bars --width 65 --height 48 --frames 2 -o "$T/err/a.mp4"
expect 1 "--pattern" encode --pattern plaid -o "$T/err/a.mp4"
expect 1 "-o" encode "$T/frames"
expect 1 "not both" encode "$T/frames" --pattern bars -o "$T/err/a.mp4"

"$ZT_BIN" encode --help >"$T/help.out"
check "help exits 0" eq "$?" 0
check "help text" grep -q "usage: zoetrope encode" "$T/help.out"

# ---- SIGTERM mid-encode: exit 130, nothing left ----------------------------------------------
for out in long.mp4 long.mkv "f%05d.png"; do
    rm -rf "$T/sig" && mkdir "$T/sig"
    "$ZT_BIN" -q encode --pattern bars --width 320 --height 240 --frames 1000000 \
        -o "$T/sig/$out" 2>"$T/sig.err" &
    pid=$!
    # wait until the encode is under way (its temporary exists)
    for _ in $(seq 100); do [ -n "$(ls -A "$T/sig")" ] && break; sleep 0.05; done
    check "$out: encode started" test -n "$(ls -A "$T/sig")"
    sleep 0.3
    kill -TERM "$pid"
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fail "$out: still running after SIGTERM"; fi
    wait "$pid"
    rc=$?
    check "$out: SIGTERM exit 130" eq "$rc" 130
    check "$out: one line on stderr" eq "$(wc -l <"$T/sig.err")" 1
    check "$out: nothing left" empty_dir "$T/sig"
done

if [ "$fails" -ne 0 ]; then
    echo "$fails of $checks checks failed" >&2
    exit 1
fi
echo "all $checks checks passed"
