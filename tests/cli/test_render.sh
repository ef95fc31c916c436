#!/usr/bin/env bash
# test_render.sh - `zoetrope render` on zoetrope-tiny: a job of four shots (FFV1, PNG
# frames, y4m, an i2v shot) rendered whole and in two shards, the manifest checked
# against sha256sum, byte-identical outputs on 1 and 2 threads and against a plain t2v
# run, --skip-existing, --keep-going, refusals of bad job files, and SIGINT / SIGTERM
# mid-job (exit 130, finished shots and the manifest intact, nothing half-written).
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "jq not found (scripts/deps.sh installs it)"; exit 1; }

Z=$ZT_BIN
J=$TMP/job
mkdir -p "$J"
cp "$ZT_SRC/tests/data/pipeline/image.png" "$J/still.png"
cat >"$J/shots.cfg" <<'EOF'
# four shots of the built-in model, few steps: this checks the plumbing, not the looks
defaults = { steps = 3; codec = "ffv1"; };
shots = (
  { name = "red"; prompt = "a red circle moving right"; seed = 1; },
  { name = "blue"; prompt = "a blue square growing on a white background"; seed = 2;
    codec = "png"; },
  { name = "green"; prompt = "a green triangle moving up"; seed = 3; codec = "y4m";
    output = "clips/green.y4m"; },
  { name = "still"; image = "still.png"; prompt = "a yellow circle moving left"; seed = 4; }
);
EOF

checks_eq() { # NAME GOT WANT
    checks=$((checks + 1))
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
m() { jq -r "$2" "$1/manifest.json"; } # DIR FILTER
leftovers() { find "$1" -mindepth 1 -name '.*' | head -3; }

# ---- a whole job ----------------------------------------------------------------------------
expect 0 '"rendered": 4' "$Z" -q render "$J/shots.cfg" -o "$TMP/a" --threads 1 --json
checks_eq "manifest shots" "$(m "$TMP/a" '.shots | keys | join(",")')" "blue,green,red,still"
for s in red green still; do
    f=$TMP/a/$(m "$TMP/a" ".shots.$s.output")
    checks_eq "$s sha256" "$(m "$TMP/a" ".shots.$s.sha256")" "$(sha256sum "$f" | cut -d' ' -f1)"
    checks_eq "$s bytes" "$(m "$TMP/a" ".shots.$s.bytes")" "$(stat -c %s "$f")"
done
checks_eq "red output" "$(m "$TMP/a" .shots.red.output)" "red.mkv"
checks_eq "red codec,frames,size,fps" \
    "$(m "$TMP/a" '.shots.red | "\(.codec),\(.frames),\(.width)x\(.height),\(.fps),\(.mode)"')" \
    "ffv1,17,128x128,8,t2v"
checks_eq "still mode" "$(m "$TMP/a" .shots.still.mode)" "i2v"
checks_eq "still image hash" "$(m "$TMP/a" .shots.still.inputs.image.sha256)" \
    "$(sha256sum "$J/still.png" | cut -d' ' -f1)"
checks_eq "model hash" "$(m "$TMP/a" .shots.red.inputs.model.sha256)" \
    "$(sha256sum "$ZT_SRC/models/zoetrope-tiny/transformer.safetensors" | cut -d' ' -f1)"
checks_eq "settings recorded" "$(m "$TMP/a" '.shots.green.settings | "\(.seed),\(.steps),\(.prompt)"')" \
    "3,3,a green triangle moving up"
checks_eq "version" "$(m "$TMP/a" .zoetrope_version)" "$("$Z" version | head -1 | cut -d' ' -f2)"
# the PNG sequence: each frame's hash, and the sequence's hash over the list of them
checks_eq "blue frames" "$(m "$TMP/a" '.shots.blue.files | length')" 17
(cd "$TMP/a/blue" && sha256sum ./*.png | sed 's#  \./#  #') >"$TMP/blue.list"
checks_eq "blue sha256" "$(m "$TMP/a" .shots.blue.sha256)" "$(sha256sum <"$TMP/blue.list" | cut -d' ' -f1)"
checks_eq "blue frame 5" "$(m "$TMP/a" '.shots.blue.files[4] | "\(.name) \(.sha256)"')" \
    "0005.png $(sha256sum "$TMP/a/blue/0005.png" | cut -d' ' -f1)"
checks_eq "no temporaries" "$(leftovers "$TMP/a")" ""

# ---- byte-reproducible: 2 threads, and a plain t2v of the same settings ---------------------------
expect 0 '"rendered": 4' "$Z" -q render "$J/shots.cfg" -o "$TMP/b" --threads 2 --json
for f in red.mkv clips/green.y4m still.mkv blue/0001.png blue/0017.png; do
    checks=$((checks + 1))
    cmp -s "$TMP/a/$f" "$TMP/b/$f" || fail "$f differs between 1 and 2 threads"
done
checks_eq "manifest hashes, 1 and 2 threads" "$(m "$TMP/a" '[.shots[].sha256] | join(",")')" \
    "$(m "$TMP/b" '[.shots[].sha256] | join(",")')"
expect 0 '"frames":17' "$Z" -q t2v "a red circle moving right" --steps 3 --seed 1 \
    -o "$TMP/t2v.mkv" --json
checks=$((checks + 1))
cmp -s "$TMP/a/red.mkv" "$TMP/t2v.mkv" || fail "the job's red.mkv differs from a t2v run's"

# ---- shards into one directory, one after the other -----------------------------------------
expect 0 '"rendered": 2' "$Z" -q render "$J/shots.cfg" -o "$TMP/s" --shard 1/2 --json
checks_eq "shard 1 shots" "$(jq -r '[.shots[].name] | join(",")' "$TMP/out")" "red,green"
expect 0 '"rendered": 2' "$Z" -q render "$J/shots.cfg" -o "$TMP/s" --shard 2/2 --json
checks_eq "shard 2 shots" "$(jq -r '[.shots[].name] | join(",")' "$TMP/out")" "blue,still"
checks_eq "merged manifest" "$(m "$TMP/s" '.shots | keys | join(",")')" "blue,green,red,still"
checks_eq "shard hashes" "$(m "$TMP/s" '[.shots[].sha256] | join(",")')" \
    "$(m "$TMP/a" '[.shots[].sha256] | join(",")')"
expect 0 '"name":"blue".*"name":"still"' "$Z" render "$J/shots.cfg" --shard 2/2 --dry-run --json

# ---- --skip-existing ----------------------------------------------------------------------------
cp "$TMP/s/manifest.json" "$TMP/manifest.before"
expect 0 '"skipped": 4' "$Z" -q render "$J/shots.cfg" -o "$TMP/s" --skip-existing --json
checks=$((checks + 1))
cmp -s "$TMP/s/manifest.json" "$TMP/manifest.before" || fail "a run that skipped all changed the manifest"
# the same job from another directory (its inputs are recorded as the job names them)
(cd "$J" && "$Z" -q render shots.cfg -o "$TMP/s" --skip-existing --json >"$TMP/out")
checks_eq "skipped from the job's directory" "$(jq -r .skipped "$TMP/out")" 4
printf 'x' >>"$TMP/s/red.mkv" # a damaged output is made again
expect 0 '"rendered": 1' "$Z" -q render "$J/shots.cfg" -o "$TMP/s" --skip-existing --json
checks_eq "re-rendered" "$(jq -r '[.shots[] | select(.status == "rendered") | .name] | join(",")' "$TMP/out")" "red"
checks=$((checks + 1))
cmp -s "$TMP/s/red.mkv" "$TMP/a/red.mkv" || fail "red.mkv made again differs"
sed 's/seed = 3;/seed = 33;/' "$J/shots.cfg" >"$J/shots2.cfg" # a changed setting too
expect 0 '"rendered": 1' "$Z" -q render "$J/shots2.cfg" -o "$TMP/s" --skip-existing --json
checks_eq "changed seed" "$(jq -r '[.shots[] | select(.status == "rendered") | .name] | join(",")' "$TMP/out")" "green"
checks_eq "new seed recorded" "$(m "$TMP/s" .shots.green.settings.seed)" 33

# ---- refusals: one line, exit 2 (or 1 for flags), nothing written --------------------------------
bad() { # NAME PATTERN CONTENT...: the job is refused and the output directory stays empty
    local name=$1 pat=$2
    shift 2
    printf '%s\n' "$@" >"$J/$name.cfg"
    rm -rf "$TMP/bad" && mkdir "$TMP/bad"
    expect 2 "$pat" "$Z" -q render "$J/$name.cfg" -o "$TMP/bad"
    no_files "$TMP/bad"
}
bad climb "climb.cfg:1: shot 'x': output '../x.mkv' is outside the output directory" \
    'shots = ( { name = "x"; prompt = "a red circle growing"; output = "../x.mkv"; } );'
bad absolute "outside the output directory" \
    'shots = ( { prompt = "a red circle growing"; output = "/tmp/zt-x.mkv"; } );'
bad syntax 'syntax.cfg:3: syntax error' 'shots = (' '  { prompt = "a"; ' ');'
bad unknown "unknown.cfg:1: unknown key 'colour'" 'shots = ( { prompt = "a"; colour = "red"; } );'
bad dupname "dupname.cfg:3: shot name 'a' is used twice \(line 2\)" 'shots = (' \
    '{ name = "a"; prompt = "p"; },' '{ name = "a"; prompt = "q"; } );'
bad dupout "dupout.cfg:3: shot 'b' writes 'x.mkv', as shot 'a'" 'shots = (' \
    '{ name = "a"; prompt = "p"; output = "x.mkv"; },' '{ name = "b"; prompt = "q"; output = "x.mkv"; } );'
bad noprompt "noprompt.cfg:1: shot 'shot-001' has no prompt" 'shots = ( { seed = 1; } );'
bad empty 'empty.cfg:1: the shot list is empty' 'shots = ( );'
bad noshots 'noshots.cfg: no shots' 'defaults = { steps = 2; };'
bad type "type.cfg:1: 'seed' must be an integer" 'shots = ( { prompt = "p"; seed = "one"; } );'
bad range 'range.cfg:1: steps 0 is outside 1..1000' 'shots = ( { prompt = "p"; steps = 0; } );'
bad badname "badname.cfg:1: shot name '../a' must be" 'shots = ( { name = "../a"; prompt = "p"; } );'
bad width "width.cfg:1: width 100 is not a multiple of 16" 'shots = ( { prompt = "p"; width = 100; } );'
bad preset "preset.cfg:1: no preset 'nope' \\(see zoetrope presets\\)" 'shots = ( { prompt = "p"; preset = "nope"; } );'
printf '%s\n' 'width = 128;' 'height = = 64;' >"$J/broken-preset.cfg"
bad badpreset "badpreset.cfg:1: shot 'shot-001': .*broken-preset.cfg:2: syntax error" \
    'shots = ( { prompt = "p"; preset = "broken-preset.cfg"; } );'
expect 2 'no-such.cfg: cannot open' "$Z" render "$J/no-such.cfg" -o "$TMP/bad"
expect 1 '--shard 3/2: expected I/N' "$Z" render "$J/shots.cfg" --shard 3/2
expect 1 '--shard x: expected I/N' "$Z" render "$J/shots.cfg" --shard x
expect 1 'no job file given' "$Z" render
expect 0 'x.mkv' "$Z" render "$J/absolute.cfg" --allow-outside --dry-run
# a link inside the output directory does not lead out of it either
rm -rf "$TMP/linked" "$TMP/elsewhere" && mkdir -p "$TMP/linked" "$TMP/elsewhere"
ln -s "$TMP/elsewhere" "$TMP/linked/sub"
printf '%s\n' 'shots = ( { name = "x"; prompt = "a red circle growing"; output = "sub/x.mkv"; steps = 2; } );' >"$J/link.cfg"
expect 2 "shot 'x' failed: output 'sub/x.mkv' leads out of the output directory" \
    "$Z" -q render "$J/link.cfg" -o "$TMP/linked"
no_files "$TMP/elsewhere"
mkdir -p "$TMP/junk" && echo '{"format": 9}' >"$TMP/junk/manifest.json"
expect 2 'manifest.json: not a Zoetrope manifest' "$Z" -q render "$J/shots.cfg" -o "$TMP/junk"

# ---- a failing shot: stops the job, or not with --keep-going; others stay whole ---------------------
echo "not a picture" >"$J/broken.png"
cat >"$J/fails.cfg" <<'EOF'
defaults = { steps = 2; codec = "ffv1"; };
shots = (
  { name = "one"; prompt = "a red circle moving right"; seed = 1; },
  { name = "two"; image = "broken.png"; prompt = "a red circle moving left"; },
  { name = "three"; prompt = "a blue circle moving up"; seed = 3; },
  { name = "four"; preset = "tiny"; model = "missing.safetensors"; prompt = "a red square growing"; },
  { name = "five"; model = "still.png"; prompt = "a red square growing"; }
);
EOF
expect 2 "shot 'two' failed: .*broken.png" "$Z" -q render "$J/fails.cfg" -o "$TMP/f1"
checks_eq "stopped: manifest" "$(m "$TMP/f1" '.shots | keys | join(",")')" "one"
checks_eq "stopped: files" "$(cd "$TMP/f1" && ls -A | tr '\n' ,)" "manifest.json,one.mkv,"
run "$Z" -q render "$J/fails.cfg" -o "$TMP/f2" --keep-going --json
checks_eq "kept going: exit" "$rc" 2
checks_eq "kept going: per shot" "$(jq -r '[.shots[] | "\(.name)=\(.exit_code)"] | join(",")' "$TMP/out")" \
    "one=0,two=2,three=0,four=2,five=2"
checks_eq "kept going: errors" "$(sed 's/:.*//' "$TMP/err" | sort | uniq -c | tr -s ' ')" " 3 zoetrope"
grep -q "shot 'four' failed: .*missing.safetensors" "$TMP/err" || fail "four: $(cat "$TMP/err")"
grep -q "shot 'five' failed: no vae file given" "$TMP/err" || fail "five: $(cat "$TMP/err")"
checks_eq "kept going: manifest" "$(m "$TMP/f2" '.shots | keys | join(",")')" "one,three"
checks_eq "kept going: files" "$(cd "$TMP/f2" && ls -A | tr '\n' ,)" "manifest.json,one.mkv,three.mkv,"

# ---- SIGINT after the first shot, SIGTERM during it -----------------------------------------------
cat >"$J/long.cfg" <<'EOF'
defaults = { steps = 60; codec = "ffv1"; };
shots = (
  { name = "s1"; prompt = "a red circle moving right"; seed = 1; steps = 2; },
  { name = "s2"; prompt = "a green circle moving left"; seed = 2; },
  { name = "s3"; prompt = "a blue circle moving up"; seed = 3; }
);
EOF
sed 's/ steps = 2;//' "$J/long.cfg" >"$J/long2.cfg" # every shot long
for sig in INT TERM; do
    o=$TMP/sig$sig
    rm -rf "$o"
    job=$J/long.cfg
    [ $sig = TERM ] && job=$J/long2.cfg
    "$Z" -q render "$job" -o "$o" --threads 1 2>"$TMP/sig.err" &
    pid=$!
    if [ $sig = INT ]; then # once the first shot is in the manifest
        for _ in $(seq 600); do
            [ "$(jq -r '.shots | length' "$o/manifest.json" 2>/dev/null)" = 1 ] && break
            sleep 0.05
        done
        sleep 0.3 # into the second shot's denoising
    else
        for _ in $(seq 100); do [ -d "$o" ] && break; sleep 0.05; done
        sleep 0.2
    fi
    t0=$(date +%s.%N)
    kill -$sig "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fail "SIG$sig: still running after 5 s"; fi
    wait "$pid"
    rc=$?
    took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    checks_eq "SIG$sig exit" "$rc" 130
    checks=$((checks + 1))
    awk -v t="$took" 'BEGIN { exit !(t < 2.5) }' || fail "SIG$sig: took $took s to stop"
    checks_eq "SIG$sig: no temporaries" "$(leftovers "$o")" ""
    checks_eq "SIG$sig: stderr" "$(cat "$TMP/sig.err")" "zoetrope: render: interrupted"
    if [ $sig = INT ]; then
        checks_eq "SIGINT: manifest" "$(m "$o" '.shots | keys | join(",")')" "s1"
        checks_eq "SIGINT: files" "$(cd "$o" && ls -A | tr '\n' ,)" "manifest.json,s1.mkv,"
        checks_eq "SIGINT: s1 intact" "$(m "$o" .shots.s1.sha256)" \
            "$(sha256sum "$o/s1.mkv" | cut -d' ' -f1)"
    else
        checks_eq "SIGTERM: nothing written" "$(cd "$o" && ls -A | tr '\n' ,)" ""
    fi
done

finish
