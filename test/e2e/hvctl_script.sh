#!/usr/bin/env bash
# hvctl scripts (hvctl -f): the exit status says whether every command
# behaved as written; `expect fail` marks the failures a script means.
#   test/e2e/hvctl_script.sh <build-dir>
set -euo pipefail
build=${1:?usage: hvctl_script.sh <build-dir>}
root=$(cd "$(dirname "$0")/../.." && pwd)
hvctl=$build/examples/hvctl
work=$(mktemp -d)
pass=0 fail=0
trap 'rm -rf "$work"' EXIT

# run NAME TARGET SCRIPT-TEXT: runs it as $work/NAME.hvctl; sets $rc, $out, $err
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
# expect NAME WANT-RC STDERR-REGEX (or '' for an empty stderr)
expect() {
  if [[ $rc -ne $2 ]]; then ko "$1" "exit status $rc, wanted $2"
  elif [[ -z $3 && -n $err ]]; then ko "$1" "stderr not empty"
  elif [[ -n $3 ]] && ! grep -Eq -- "$3" <<<"$err"; then ko "$1" "stderr does not match '$3'"
  else ok "$1"; fi
}

# The README's demo: every failure in it is marked, so it exits 0.
rc=0
timeout 60 "$hvctl" --target sim:cores=4 -f "$root/examples/hvctl/demo.hvctl" >"$work/demo.out" 2>"$work/demo.err" || rc=$?
out=$(cat "$work/demo.out") err=$(cat "$work/demo.err")
expect demo-exits-0 0 ''
if grep -q '(failed, as expected)' <<<"$out"; then ok demo-shows-expected-failures; else ko demo-shows-expected-failures "no '(failed, as expected)'"; fi

run all-as-written sim:cores=4 'status
expect fail rdmsr 12345678
rdmsr c0000082
# a comment
expect fail !dr code {eb 10}
!dr pid 490 code {90 90 90}
expect fail events c 77'
expect all-as-written 0 ''

run unexpected-failure sim:cores=4 'status
rdmsr c0000082

rdmsr 12345678
status'
expect unexpected-failure 1 "unexpected-failure.hvctl:4: rdmsr 12345678: failed: EXCEPTION_GENERAL_PROTECTION on each of the 4 cores"
expect unexpected-failure-summary 1 "unexpected-failure.hvctl: 1 of 4 commands did not behave as written \(line 4\)"
if grep -q '^hvctl> status$' <(tail -n 2 <<<"$out"); then ok runs-to-the-end; else ko runs-to-the-end "the last line did not run"; fi

run expected-failure-succeeds sim:cores=4 'expect fail rdmsr c0000082'
expect expected-failure-succeeds 1 "expected-failure-succeeds.hvctl:1: expect fail rdmsr c0000082: succeeded, but the line expects it to fail"

run typo-is-not-an-expected-failure sim:cores=4 'expect fail rdmsrr 12345678'
expect typo-is-not-an-expected-failure 1 "typo-is-not-an-expected-failure.hvctl:1: expect fail rdmsrr 12345678: does not parse: unknown command 'rdmsrr'"

run refused-code sim:cores=4 '!dr code {eb 10}'
expect refused-code 1 "refused-code.hvctl:1: !dr code \{eb 10\}: failed: code refused: byte 0: jmp to 0x12"

# Some cores #GP and others do not: neither success nor the failure
# `expect fail` asks for; on the failing core alone it is a plain failure.
run partial sim:cores=4,gp=c0000082@2 'rdmsr c0000082
expect fail rdmsr c0000082
expect fail rdmsr c0000082 core 2
rdmsr c0000082 core 1'
expect partial-plain 1 "partial.hvctl:1: rdmsr c0000082: failed on some cores: EXCEPTION_GENERAL_PROTECTION on core 2; 3 of the 4 cores succeeded"
expect partial-expect-fail 1 "partial.hvctl:2: expect fail rdmsr c0000082: failed only on some cores .*'expect fail' wants every target core to fail"
expect partial-summary 1 "partial.hvctl: 2 of 4 commands did not behave as written \(lines 1, 2\)"

# One command from the arguments: the same judgement, no line number.
rc=0; out=$("$hvctl" --target sim:cores=2 expect fail rdmsr 12345678 2>&1) || rc=$?; err=
expect one-command-expected-failure 0 ''
rc=0; err=$("$hvctl" --target sim:cores=2 rdmsr 12345678 2>&1 >/dev/null) || rc=$?; out=
expect one-command-failure 1 '^hvctl: rdmsr 12345678: failed: EXCEPTION_GENERAL_PROTECTION on each of the 2 cores'

echo "hvctl-script: $pass passed, $fail failed"
((fail == 0))
