#!/usr/bin/env bash
# hvctl record / replay against a simulated machine over the wire protocol:
# `hvctl serve` runs the core on the mock, a recorder asks for 12 exits over
# tcp:, other clients make them (MOV-DR exits by `simulate dr`, RUN_IN_ROOT
# VMCALLs by `rdmsr`), then `hvctl replay` must match every replayable exit,
# and a damaged file must be refused.
#   test/e2e/hvctl_trace.sh <build-dir>
set -euo pipefail
build=${1:?usage: hvctl_trace.sh <build-dir>}
hvctl=$build/examples/hvctl
work=$(mktemp -d)
cleanup() { [[ -n ${srv:-} ]] && kill "$srv" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL $*"; exit 1; }

"$hvctl" serve --listen 127.0.0.1:0 --cores 2 >"$work/serve.log" 2>&1 &
srv=$!
for _ in $(seq 50); do
  grep -q 'hvctl serve:' "$work/serve.log" && break
  sleep 0.1
done
port=$(sed -n 's/.*on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.log")
[[ -n $port ]] || { cat "$work/serve.log"; fail "hvctl serve did not start"; }
T=tcp:127.0.0.1:$port

"$hvctl" --target "$T" record --exits 12 --reasons mov-dr,vmcall -o "$work/t.hvtrace" --timeout 60 \
  >"$work/rec.out" 2>&1 &
rec=$!
sleep 1
for i in 1 2 3 4 5 6 7 8; do
  "$hvctl" --target "$T" simulate dr core $((i % 2)) value $i >/dev/null 2>&1 || true
  "$hvctl" --target "$T" rdmsr 1d9 >/dev/null 2>&1 || true
  kill -0 "$rec" 2>/dev/null || break
done
wait "$rec" || { cat "$work/rec.out"; fail "hvctl record failed"; }
cat "$work/rec.out"
grep -Eq '^recorded 12 exits on 2 cores to .* \(0 dropped\)$' "$work/rec.out" || fail "record: unexpected summary"
echo "PASS record: $(cat "$work/rec.out")"

out=$("$hvctl" replay "$work/t.hvtrace") || { echo "$out"; fail "replay: exit status $?"; }
echo "$out"
grep -Eq '^replayed ([1-9][0-9]*), matched \1, diverged 0, skipped [0-9]+' <<<"$out" || fail "replay: not every exit matched"
echo "PASS replay: $(sed -n 2p <<<"$out")"

# A record whose counts disagree with its size: refused, not half-replayed.
cp "$work/t.hvtrace" "$work/bad.hvtrace"
printf '\x30' | dd of="$work/bad.hvtrace" bs=1 seek=$((80 + 26)) conv=notrunc status=none
if "$hvctl" replay "$work/bad.hvtrace" >"$work/bad.out" 2>&1; then
  cat "$work/bad.out"; fail "replay accepted a damaged record"
fi
grep -q 'INVALID_PACKET' "$work/bad.out" || { cat "$work/bad.out"; fail "damaged record: no INVALID_PACKET"; }
echo "PASS replay-damaged: $(grep INVALID_PACKET "$work/bad.out")"
