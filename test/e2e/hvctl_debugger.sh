#!/usr/bin/env bash
# Debugger Mode through hvctl against the real stub on the mock machine
# (--target serial:sim:cores=4: hvcore/testing/dbg_sim.h behind a socketpair,
# the same link frames a serial port carries): break in, registers of every
# core, wrmsr on core 1 while halted then rdmsr on all, db/dq of the guest's
# data page (and a read that runs into a missing page), a !dr break event
# queued while halted and applied at g, its stop report (core, event, pid,
# RIP, the instruction), g; refusals that must be clear and quick.
#   test/e2e/hvctl_debugger.sh <build-dir>
set -euo pipefail
build=${1:?usage: hvctl_debugger.sh <build-dir>}
hvctl=$build/examples/hvctl
work=$(mktemp -d)
pass=0 fail=0
trap 'rm -rf "$work"' EXIT

# run NAME TARGET SCRIPT-TEXT: sets $rc, $out, $err
run() {
  printf '%s\n' "$3" >"$work/$1.hvctl"
  rc=0
  timeout 60 "$hvctl" --target "$2" -f "$work/$1.hvctl" >"$work/$1.out" 2>"$work/$1.err" || rc=$?
  out=$(cat "$work/$1.out") err=$(cat "$work/$1.err")
}
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() {
  fail=$((fail + 1)); echo "FAIL $1: $2 (exit $rc)"
  sed 's/^/    stdout: /' <<<"$out"; sed 's/^/    stderr: /' <<<"$err"
}
# has NAME FIXED-STRING...: every string is a line (or part of one) of stdout
has() {
  local name=$1 s; shift
  for s in "$@"; do
    if ! grep -qF -- "$s" <<<"$out"; then ko "$name" "no '$s' in the output"; return; fi
  done
  ok "$name"
}

run session serial:sim:cores=4 'status
expect fail r
expect fail wrmsr c0000082 1 core 1
pause
r
~ 1
r rip
~ 2
r rip
~ 3
r rip
~ 0
wrmsr c0000082 fffff807`73553180 core 1
rdmsr c0000082
db fffff80000002000 L 20
dq fffff80000002000 L 2
expect fail dq fffff80000002ff8 L 2
expect fail ~ 4
expect fail r cr9 = 1
r rax = 5
r rax
!dr pid 1ea core 2
g
# the changes are applied; give each core time to take its new controls
expect fail wait 1
simulate dr core 2 pid 1ea
wait 0n20
r rip
status
g
expect fail wait 1
status'
if [[ $rc -eq 0 && -z $err ]]; then ok session-as-written; else ko session-as-written "exit status or stderr"; fi
has running-first 'running, current core 0'
has needs-halted "r: TARGET_RUNNING (0xe0e10050): GET_REGS needs the target halted: it is running ('pause' breaks in)" \
  "wrmsr: TARGET_RUNNING (0xe0e10050)"
has break-in 'break-in: core 0 halted the target (stop #1)' \
  'core 0: pid 3e8, rip fffff800`00001000, 64-bit code' \
  'fffff800`00001000 90                   nop'
has regs-every-core 'core 0:' 'rip=fffff80000001000' 'rip=fffff80000001010' 'rip=fffff80000001020' \
  'rip=fffff80000001030' 'cr3=0000000040000000' 'switched to core 3'
has wrmsr-core1-while-halted 'core : 1 - msr[c0000082] <- fffff807`73553180'
# rdmsr on every core: core 1 has the new value, the others their own.
if grep -qF 'core : 1 - msr[c0000082] = fffff807`73553180' <<<"$out" &&
   [[ $(grep -c '^core : [0-3] - msr\[c0000082\] = ' <<<"$out") -eq 4 ]] &&
   [[ $(grep -c '^core : [023] - msr\[c0000082\] = fffff807`73553180' <<<"$out") -eq 0 ]]; then
  ok rdmsr-all-after-wrmsr
else ko rdmsr-all-after-wrmsr "rdmsr lines"; fi
has db-dq 'fffff800`00002000  00 01 02 03 04 05 06 07-08 09 0a 0b 0c 0d 0e 0f  ................' \
  'fffff800`00002010  10 11 12 13 14 15 16 17-18 19 1a 1b 1c 1d 1e 1f  ................' \
  'fffff800`00002000  07060504`03020100 0f0e0d0c`0b0a0908'
has read-into-missing-page 'fffff800`00002ff8  fffefdfc`fbfaf9f8' \
  'dq: fffff800`00003000: GUEST_PAGE_NOT_PRESENT (0xe0e10040) after 8 of 16 bytes'
has refusals '~: core 0x4 does not exist: this machine has 4 cores (0-3)' "r: cannot write 'cr9'"
has set-reg 'core 0: rax=0000000000000005' 'rax=0000000000000005'
has event-queued-then-applied 'queued (applies at g): !dr pid 1ea core 2 imm yes, action break' \
  'event change 0 (at g): added event 1' 'event change 1 (at g): action for event 1'
has break-event 'event 1 (!dr: mov from dr7, value 400) halted the target on core 2 (stop #2)' \
  'core 2: pid 1ea, rip fffff800`00001023, 64-bit code' \
  'the access: fffff800`00001020 0f 21 f8             mov rax, dr7' 'rip=fffff80000001023' \
  'halted (stop #2), current core 2'
has resumed 'wait: TIMEOUT (0xc0000007): the target did not stop within 1000 ms'
if [[ $(tail -n 3 <<<"$out" | grep -c '^running, current core 2') -eq 1 ]]; then ok running-at-end
else ko running-at-end "the last status is not 'running'"; fi

# Malformed and unknown commands: a clear error at once, never a hang.
run unknown serial:sim:cores=2 'pause
frobnicate 1 2
r rax 5
db
g'
if [[ $rc -eq 1 ]] && grep -qF "unknown command 'frobnicate'" <<<"$out" &&
   grep -qF "r: after 'rax' only '= <value>' may follow, not '5'" <<<"$out" &&
   grep -qF 'db: usage: db <address> [L <count>] (the address is missing)' <<<"$out" &&
   grep -qF 'unknown.hvctl: 3 of 5 commands did not behave as written (lines 2, 3, 4)' <<<"$err" &&
   grep -qF 'running (every core resumed)' <<<"$out"; then
  ok malformed-commands
else ko malformed-commands "messages"; fi

# Debugger commands elsewhere: refused with the reason.
run elsewhere sim:cores=2 'expect fail pause
expect fail g
expect fail db 1000'
if [[ $rc -eq 0 ]] && grep -qF 'pause: only a Debugger Mode target has it' <<<"$out"; then ok not-a-debugger-target
else ko not-a-debugger-target "no refusal"; fi

# Nothing at the other end of a serial target: it cannot be opened.
rc=0
timeout 30 "$hvctl" --target serial:tcp:127.0.0.1:1 status >"$work/none.out" 2>"$work/none.err" || rc=$?
out=$(cat "$work/none.out") err=$(cat "$work/none.err")
if [[ $rc -eq 1 ]] && grep -qF "cannot open target 'serial:tcp:127.0.0.1:1': DEVICE_CONNECTION_LOST (0xc0000308)" <<<"$err" &&
   grep -qF 'Connection refused' <<<"$err"; then ok no-line
else ko no-line "message"; fi

# Ctrl-C while hvctl waits for the running target: it breaks in.
printf 'wait\nr rip\ng\n' >"$work/ctrlc.hvctl"
timeout 60 "$hvctl" --target serial:sim:cores=2 -f "$work/ctrlc.hvctl" >"$work/ctrlc.out" 2>"$work/ctrlc.err" &
pid=$!
# Once the wait has begun (the line is echoed before it runs; hvctl flushes per line).
for _ in $(seq 1 200); do
  grep -qx 'hvctl> wait' "$work/ctrlc.out" 2>/dev/null && break
  sleep 0.05
done
sleep 0.3
kill -INT "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
out=$(cat "$work/ctrlc.out") err=$(cat "$work/ctrlc.err")
if [[ $rc -eq 0 ]] && grep -qF 'Ctrl-C: break-in: core 0 halted the target (stop #1)' <<<"$out" &&
   grep -qF 'rip=fffff80000001000' <<<"$out"; then ok ctrl-c-breaks-in
else ko ctrl-c-breaks-in "no break-in after SIGINT"; fi

# The same stub with its serial line on TCP (hvctl serve --serial, as an
# emulator's com port): a debugger that leaves a halted target and a new one
# that connects finds it halted, where the first left it.
"$hvctl" serve --serial --listen 127.0.0.1:0 --cores 4 >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
port=
for _ in $(seq 1 200); do
  port=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/serve.out" 2>/dev/null | head -n 1 | cut -d: -f2) || true
  [[ -n $port ]] && break
  sleep 0.05
done
run first serial:tcp:127.0.0.1:$port 'pause
~ 2
wrmsr c0000082 1234 core 2'
first_rc=$rc
run second serial:tcp:127.0.0.1:$port 'status
r rip
rdmsr c0000082 core 2
g
status'
if [[ $first_rc -eq 0 && $rc -eq 0 ]] && grep -qF 'halted (stop #1), current core 2' <<<"$out" &&
   grep -qF 'rip=fffff80000001020' <<<"$out" && grep -qF 'core : 2 - msr[c0000082] = 00001234' <<<"$out" &&
   grep -qF 'running, current core 2' <<<"$out"; then
  ok reconnect-to-halted-target
else ko reconnect-to-halted-target "the second session did not find the halted target"; fi
kill -INT "$spid" 2>/dev/null || true
wait "$spid" || true
rc=0
timeout 30 "$hvctl" serve --serial --listen 0.0.0.0:0 >"$work/open.out" 2>"$work/open.err" || rc=$?
out=$(cat "$work/open.out") err=$(cat "$work/open.err")
if [[ $rc -eq 1 ]] && grep -qF 'a serial line has no authentication, so only a 127.x.x.x address may expose it' <<<"$err"; then
  ok serial-serve-loopback-only
else ko serial-serve-loopback-only "not refused"; fi

echo "hvctl_debugger: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
