#!/usr/bin/env bash
# hvctl for people: error messages that say what was expected and what
# exists, the decimal hint, --version, --json (every command answers with
# JSON objects, one a line, that a JSON parser accepts), bash completion.
#   test/e2e/hvctl_cli.sh <build-dir>
set -euo pipefail
build=${1:?usage: hvctl_cli.sh <build-dir>}
root=$(cd "$(dirname "$0")/../.." && pwd)
hvctl=$build/examples/hvctl
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
# has NAME TEXT FIXED-STRING
has() { if grep -qF -- "$3" <<<"$2"; then ok "$1"; else ko "$1" "no '$3' in: $2"; fi; }

run() { "$hvctl" --target sim:cores=4 "$@" 2>&1 || true; }

# ---- errors ------------------------------------------------------------------
has core-range "$(run rdmsr c0000082 core 99)" \
    "rdmsr: core 0x99 does not exist: this machine has 4 cores (0-3)"
has decimal-hint "$(run rdmsr c0000082 core 10)" \
    "(numbers are hex: '10' is 0x10 = 16; write 0n10 for decimal 10)"
out=$(run rdmsr c0000082 core 0x10)
if grep -qF "numbers are hex" <<<"$out"; then ko no-hint-for-0x "a hint for 0x10: $out"; else ok no-hint-for-0x; fi
has core-range-wrmsr "$(run wrmsr 174 0 core 4)" "wrmsr: core 0x4 does not exist: this machine has 4 cores (0-3)"
has core-range-dr "$(run '!dr' core 7)" "!dr: core 0x7 does not exist: this machine has 4 cores (0-3)"
has core-range-simulate "$(run simulate dr core 9)" "simulate: core 0x9 does not exist"
has usage-rdmsr "$(run rdmsr)" "rdmsr: usage: rdmsr <msr> [core <n>]"
has usage-wrmsr "$(run wrmsr 174)" "wrmsr: usage: wrmsr <msr> <value> [core <n>]"
has usage-after-error "$(run rdmsr xyz)" "'xyz' is not a hex number: invalid digit 'x'; usage: rdmsr <msr> [core <n>]"
has no-such-event "$(run events c 12)" \
    "event 0x12 does not exist: there are no events (numbers are hex: '12' is 0x12 = 18; write 0n12 for decimal 12)"
out=$(run events e 12)
if grep -qF "NOT_FOUND" <<<"$out"; then ko no-raw-status-for-unknown-event "$out"; else ok no-raw-status-for-unknown-event; fi
out=$(printf '!dr pid 1\n!dr pid 2\nevents d 3\n' | "$hvctl" --target sim:cores=2 2>&1 || true)
has no-such-event-lists "$out" "event 0x3 does not exist: the events are 1, 2"
rc=0; "$hvctl" --frob >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] && ok bad-option-exit-2 || ko bad-option-exit-2 "exit $rc"
has bad-option "$("$hvctl" --frob 2>&1 || true)" "hvctl: unknown option '--frob'"

# ---- --version -----------------------------------------------------------------
v=$("$hvctl" --version)
if [[ $v =~ ^hvctl\ [0-9]+\.[0-9]+\.[0-9]+\ \(libhvcore\;\ ioctl\ ABI\ [0-9]+,\ wire\ protocol\ [0-9]+\)$ ]]; then
    ok version; else ko version "$v"; fi

# ---- --json --------------------------------------------------------------------
# check NAME WANT-TYPES... < lines: every line is one JSON object with a
# "type"; the types seen, in order, must be WANT-TYPES.
check() {
    local name=$1; shift
    local got
    if ! got=$(python3 -c '
import json, sys
types = []
for n, line in enumerate(sys.stdin, 1):
    o = json.loads(line)
    assert isinstance(o, dict) and "type" in o, "line %d: no type: %s" % (n, line)
    types.append(o["type"])
print(" ".join(types))' 2>&1); then ko "$name" "not JSON lines: $got"; return; fi
    if [[ $got == "$*" ]]; then ok "$name"; else ko "$name" "types '$got', wanted '$*'"; fi
}
J() { "$hvctl" --json --target sim:cores=4 "$@" 2>/dev/null || true; }
check json-rdmsr msr msr msr msr < <(J rdmsr c0000082)
check json-wrmsr-core msr < <(J wrmsr 174 10 core 2)
check json-rdmsr-gp msr msr msr msr error < <(J rdmsr 12345678)
check json-core-range error < <(J rdmsr c0000082 core 10)
check json-unparsed error < <(J rdmsr)
check json-status status < <(J status)
check json-help help < <(J help rdmsr)
check json-version version < <("$hvctl" --json --version)
out=$(J rdmsr c0000082 core 10)
has json-error-message "$out" '"message":"core 0x10 does not exist: this machine has 4 cores (0-3)'
out=$(J rdmsr c0000082 core 1)
has json-msr-fields "$out" '{"type":"msr","op":"rdmsr","core":1,"msr":"0xc0000082","value":"0x'
script='status
!dr pid 490
!dr pid all script { $pid } imm no
simulate dr pid 490
simulate dr core 1 pid 77
listen 1
events
events d 1
output create f file /dev/null json
output open f
output
output close f
expect fail events c 9
help
quit'
out=$(printf '%s\n' "$script" | "$hvctl" --json --target sim:cores=2 2>/dev/null || true)
check json-session status event_added event_added simulate simulate record record record listen event event event_ctl \
    output output output output event_ctl error help ok <<<"$out"
has json-record-break "$out" '"kind":"break"'
has json-record-script "$out" '"kind":"script"'
has json-no-text "$(head -c1 <<<"$out")" '{'

# ---- bash completion -------------------------------------------------------------
comp() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _hvctl; echo "${COMPREPLY[*]}"' \
        _ "$root/examples/hvctl/hvctl.bash-completion" "$@"
}
[[ $(comp hvctl rd) == rdmsr ]] && ok complete-command || ko complete-command "$(comp hvctl rd)"
[[ $(comp hvctl --js) == --json ]] && ok complete-option || ko complete-option "$(comp hvctl --js)"
[[ $(comp hvctl events '') == "e d c" ]] && ok complete-events || ko complete-events "$(comp hvctl events '')"
[[ $(comp hvctl --target sim:cores=4 output create x '') == "file namedpipe tcp" ]] && ok complete-output-type ||
    ko complete-output-type "$(comp hvctl --target sim:cores=4 output create x '')"

echo "hvctl_cli: $pass passed, $fail failed"
((fail == 0))
