#!/usr/bin/env bash
# hvctl over the wire protocol on loopback: `hvctl serve` runs a simulated
# 4-core machine, clients talk to it as they would to a debuggee stub.
#   test/e2e/hvctl_tcp.sh <build-dir>
set -euo pipefail
build=${1:?usage: hvctl_tcp.sh <build-dir>}
hvctl=$build/examples/hvctl
work=$(mktemp -d)
pass=0 fail=0
cleanup() { [[ -n ${srv:-} ]] && kill "$srv" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$hvctl" serve --listen 127.0.0.1:0 --cores 4 >"$work/serve.log" 2>&1 &
srv=$!
for _ in $(seq 50); do
  grep -q 'hvctl serve:' "$work/serve.log" && break
  sleep 0.1
done
port=$(sed -n 's/.*on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.log")
[[ -n $port ]] || { cat "$work/serve.log"; echo "hvctl serve did not start"; exit 1; }
T=tcp:127.0.0.1:$port

check() { # name, expected regex, command...
  local name=$1 want=$2 out
  shift 2
  out=$("$hvctl" --target "$T" "$@" 2>&1 || true)
  if grep -Eq -- "$want" <<<"$out"; then
    pass=$((pass + 1)); echo "PASS $name"
  else
    fail=$((fail + 1)); echo "FAIL $name: '$*' printed:"; sed 's/^/    /' <<<"$out"
  fi
}

check wrmsr-core-2 'core : 2 - msr\[c0000082\] <- fffff807`73553180' wrmsr c0000082 'fffff807`73553180' core 2
check rdmsr-other-cores-untouched 'core : 1 - msr\[c0000082\] = ffffffff`81c00080' rdmsr c0000082
check rdmsr-core-2 '^core : 2 - msr\[c0000082\] = fffff807`73553180$' rdmsr c0000082 core 2
check wrmsr-all 'core : 3 - msr\[175\] <- fffffe00`00001000 \(VMCS guest field\)' wrmsr 175 'fffffe00`00001000'
check invalid-msr 'core : 0 - msr\[12345678\]: EXCEPTION_GENERAL_PROTECTION \(0xc001000d\)' rdmsr 12345678
check status 'target tcp:127.0.0.1:[0-9]+, 4 cores' status
check bad-number "error: .*'fffff807\`73553180\`1' does not fit in 64 bits" wrmsr c0000082 'fffff807`73553180`1'
check dr-add 'event 1: !dr pid 490 core 3 imm yes, action break' '!dr' pid 490 core 3
check dr-fires 'core 3 pid 490 event 1 #1\] mov to dr7, rax = 00000401' -f <(printf 'simulate dr core 3 pid 490 value 401\nlisten 1\n')
check dr-other-pid-nothing '\(0 messages\)' -f <(printf 'simulate dr core 3 pid 491 value 401\nlisten 1\n')
check dr-code-refused 'code refused: byte 0: jmp to 0x12 leaves the 3-byte code \(2 bytes \+ the appended ret\)' '!dr' code '{eb 10}'
check dr-code-ret-appended '0003  c3 +ret +\(appended\)' '!dr' pid 490 code '{90 90 90}' condition '{90 90 90}'
check dr-code-fires 'core 0 pid 490 event 2 #[0-9]+\] mov to dr7' -f <(printf 'simulate dr core 0 pid 490\nlisten 1\n')
# scripts: ? runs once on the stub's core; a script action on a simulated access
check eval-core-2 '^core 2 pid [0-9a-f]+$' '?' core 2 '{ printf("core %x pid %x\n", $core, $pid); 0n6 * 7; }'
check eval-result '^= 2a \(core 2, [0-9]+ instructions\)' '?' core 2 '{ 0n6 * 7; }'
check eval-budget 'budget exhausted' '?' 'while (1) {}'
check eval-compile-error "script error: line 1, column 1, at 'foo': unknown function 'foo'" '?' 'foo(1);'
# (the wire's simulate request carries no registers: rax is the DR7 value)
check dr-script-fires 'script: pid=491 core=1 rax=401 n=1' -f <(printf '%s\n' \
  '!dr pid 491 script { .n++; printf("pid=%x core=%x rax=%llx n=%x\n", $pid, $core, @rax, .n); }' \
  'simulate dr core 1 pid 491 value 401' 'listen 1')
check events-list '1  enabled  !dr pid 490      core 3' events
check events-clear 'no events' -f <(printf 'events c all\nevents\n')
# the stub survives a client that sends garbage, and answers the next one
printf 'this is not a frame at all, not even close....' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; sleep 0.3" || true
check stub-survives-garbage 'target tcp' status
kill "$srv"
wait "$srv" 2>/dev/null || true
srv=
check peer-gone 'DEVICE_CONNECTION_LOST' status
echo "hvctl-tcp: $pass passed, $fail failed"
((fail == 0))
