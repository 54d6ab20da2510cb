#!/usr/bin/env bash
# Event forwarding end to end: `hvctl --target sim:cores=4` forwards the
# records of `simulate dr` to a file, a FIFO (read by cat) and a TCP
# listener on 127.0.0.1 (tcp_sink), and counts what a FIFO without a
# reader could not take. Loopback only; every wait is bounded.
#   test/e2e/hvctl_output.sh <build-dir>
set -euo pipefail
build=${1:?usage: hvctl_output.sh <build-dir>}
hvctl=$build/examples/hvctl
sink=$build/test/tcp_sink
work=$(mktemp -d)
pass=0 fail=0
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; shift; for f in "$@"; do echo "  --- $f"; sed 's/^/    /' "$f" 2>/dev/null || true; done; }

# The TCP listener, and a reader on the FIFO (made here so that cat can
# wait for the writer; hvctl makes a missing one itself).
[[ -x $sink && -x $hvctl ]] || { echo "hvctl-output: build $hvctl and $sink first"; exit 1; }
"$sink" "$work/port" "$work/tcp.out" 60 &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
[[ -s $work/port ]] || { echo "hvctl-output: tcp_sink did not start"; exit 1; }
port=$(cat "$work/port")
mkfifo "$work/pipe"
# The reader must hold the FIFO open before hvctl opens it, or hvctl (rightly)
# finds no reader and drops: a read-write open never blocks, so the FIFO has
# a reader from this line on, whenever cat itself gets to run.
exec 3<>"$work/pipe"
timeout 60 cat <&3 >"$work/pipe.out" &
catpid=$!
pids+=($catpid)
exec 3<&-

cat >"$work/forward.hvctl" <<EOF
output create f file $work/out.txt
output create p namedpipe $work/pipe
output create t tcp 127.0.0.1:$port json
output create lonely namedpipe $work/nobody
output open f
output open p
output open t
output open lonely
# event 1: process 490, to the file, the FIFO and the listener only
!dr pid 490 output {f, p t}
# event 2: every process, to a FIFO nobody reads, and to the console
!dr pid all script { dr\$dr <- \$value by pid \$pid } output {lonely console}
expect fail !dr output {nosuch}
events
simulate dr core 1 pid 490 value 401
simulate dr core 2 pid 490 value 403
simulate dr core 3 pid 77 value 405
listen 1
output close f
output close p
output close t
output close lonely
output
EOF
rc=0
timeout 60 "$hvctl" --target sim:cores=4 -f "$work/forward.hvctl" >"$work/console.out" 2>"$work/console.err" || rc=$?
if [[ $rc -eq 0 && ! -s $work/console.err ]]; then ok "hvctl-script-as-written"; else ko "hvctl-script-as-written (exit $rc)" "$work/console.out" "$work/console.err"; fi

# The file: event 1's two records, whole, as `listen` would print them.
if [[ $(grep -c '^\[core [12] pid 490 event 1 #[0-9]*\] mov to dr7' "$work/out.txt") -eq 2 ]] &&
   [[ $(grep -c '^    rflags=' "$work/out.txt") -eq 2 ]] && ! grep -q 'event 2' "$work/out.txt"; then
  ok "file: $(grep -c '' "$work/out.txt") lines, records: $(grep '^\[' "$work/out.txt" | tr '\n' '|')"
else ko file "$work/out.txt"; fi

# The FIFO: the same text. cat holds a write end itself (read-write open) and
# so never sees EOF: wait, bounded, until it has copied what the file holds.
want=$(stat -c %s "$work/out.txt" 2>/dev/null || echo 1)
for _ in $(seq 200); do [[ $(stat -c %s "$work/pipe.out") -ge $want ]] && break; sleep 0.05; done
if cmp -s "$work/out.txt" "$work/pipe.out"; then
  ok "fifo: the same $(grep -c '^\[' "$work/pipe.out") records: $(grep '^\[' "$work/pipe.out" | tr '\n' '|')"
else ko "fifo (differs from the file)" "$work/pipe.out"; fi

# The TCP listener: two JSON lines of event 1.
for _ in $(seq 100); do [[ $(grep -c '' "$work/tcp.out" 2>/dev/null || true) -ge 2 ]] && break; sleep 0.05; done
if [[ $(grep -c '' "$work/tcp.out") -eq 2 ]] &&
   grep -q '^{"event":1,"core":1,"pid":"0x490",.*"kind":"break",.*"value":"0x401",.*"rflags":"0x[0-9a-f]*"}}$' "$work/tcp.out" &&
   grep -q '^{"event":1,"core":2,"pid":"0x490",.*"value":"0x403"' "$work/tcp.out"; then
  ok "tcp: $(grep -c '' "$work/tcp.out") JSON lines: $(cut -c1-80 "$work/tcp.out" | sed 's/$/...|/' | tr -d '\n')"
else ko tcp "$work/tcp.out"; fi

# The console: event 2's records (it asked for the console), not event 1's.
if [[ $(grep -c '^  script: dr0x7 <- ' "$work/console.out") -eq 3 ]] && ! grep -q 'event 1 #' "$work/console.out" &&
   grep -q '^(5 messages; 2 of them forwarded only' "$work/console.out"; then
  ok "console: event 2 shown, event 1 forwarded only"
else ko console "$work/console.out"; fi

# Counts: what went where, and the FIFO nobody read dropped all three.
if grep -Eq '^f +file +text +closed +2 +0 +0 +1 ' "$work/console.out" &&
   grep -Eq '^p +namedpipe +text +closed +2 +0 ' "$work/console.out" &&
   grep -Eq '^t +tcp +json +closed +2 +0 ' "$work/console.out" &&
   grep -Eq '^lonely +namedpipe +text +closed +0 +3 ' "$work/console.out"; then
  ok "counts: $(grep -E '^(f|p|t|lonely) ' "$work/console.out" | awk '{print $1" sent "$5" dropped "$6}' | tr '\n' ';')"
else ko counts "$work/console.out"; fi

if grep -q "^!dr refused: unknown output 'nosuch' (create it first: output create nosuch file PATH)$" "$work/console.out" &&
   grep -q 'output {f p t}' "$work/console.out"; then
  ok "unknown-output-refused"
else ko unknown-output-refused "$work/console.out"; fi

echo "hvctl-output: $pass passed, $fail failed"
((fail == 0))
