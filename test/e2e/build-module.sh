#!/usr/bin/env bash
# Build an out-of-tree kernel module against the headers of the kernel that the
# e2e guest boots (the ABI prepared by setup.sh), and print the .ko path(s).
#
# usage: build-module.sh [--out DIR] MODULE_DIR [extra make arguments...]
#   MODULE_DIR  directory with a Kbuild (or Makefile with obj-m)
#   --out DIR   copy MODULE_DIR's files into DIR and build there (keeps the
#               source tree clean); default: build in MODULE_DIR itself
# Logs go to stderr; stdout has only the absolute .ko path(s), one a line.
#
# Example:
#   ko=$(test/e2e/build-module.sh --out /tmp/hello test/e2e/selftest)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }
OUT=
while (($#)); do
    case $1 in
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    -h | --help) usage ;;
    *) break ;;
    esac
done
(($#)) || usage
SRC=$1
shift
[[ -d $SRC ]] || e2e_die "not a directory: $SRC"
[[ -f $SRC/Kbuild || -f $SRC/Makefile ]] || e2e_die "$SRC has no Kbuild or Makefile"

KVER=$(e2e_kver)
HDR=$(e2e_headers_dir "$KVER")
[[ -f $HDR/Makefile ]] || e2e_die "no kernel headers at $HDR: run test/e2e/setup.sh"

if [[ -n $OUT ]]; then
    mkdir -p "$OUT"
    cp -a "$SRC"/. "$OUT"/
    DIR=$(cd "$OUT" && pwd)
else
    DIR=$(cd "$SRC" && pwd)
fi

e2e_log "building module in $DIR against $HDR"
make -C "$HDR" M="$DIR" -j"$(nproc)" "$@" modules >&2 || e2e_die "module build failed in $DIR"
# modules.order lists what this build made (as .ko or, on older Kbuild, .o).
KOS=()
if [[ -s $DIR/modules.order ]]; then
    while read -r m; do
        m=${m%.o}; m=${m%.ko}.ko
        [[ $m == /* ]] || m=$DIR/${m#./}
        [[ -f $m ]] && KOS+=("$m")
    done <"$DIR/modules.order"
fi
((${#KOS[@]})) || e2e_die "no .ko produced in $DIR"
printf '%s\n' "${KOS[@]}"
