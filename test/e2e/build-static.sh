#!/usr/bin/env bash
# Build a static test program for the guest (the guest has busybox only, no
# shared libraries): gcc -static -O2.
#
# usage: build-static.sh -o OUTPUT SOURCE.c [more sources or gcc flags...]
# Prints the absolute path of OUTPUT on stdout.
#
# Example:
#   test/e2e/build-static.sh -o /tmp/extra/bin/vmxcheck test/e2e/selftest/vmxcheck.c
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ ${1:-} == -o && -n ${2:-} && -n ${3:-} ]] ||
    { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }
OUTPUT=$2
shift 2
mkdir -p "$(dirname "$OUTPUT")"
gcc -static -O2 -Wall -Wextra -o "$OUTPUT" "$@" || e2e_die "static build of $OUTPUT failed"
if LC_ALL=C readelf -lW "$OUTPUT" | grep -q INTERP; then
    e2e_die "$OUTPUT is not static"
fi
printf '%s\n' "$(cd "$(dirname "$OUTPUT")" && pwd)/$(basename "$OUTPUT")"
