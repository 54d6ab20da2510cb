#!/bin/sh
# Build the x86-64 backend with the project's core flags (gcc and clang,
# -fPIC) and run the userspace emulation self-test against each build: once
# on this host as it is, and once with the host answering a ring-3 VMCALL
# itself as KVM does (HVCORE_SELFTEST_HOST=kvm), so the VMCALL checks are
# proven to run on such a host too.
# Usage: libhvcore/arch/x86_64/selftest/run.sh [build-dir]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
arch=$(dirname "$here")
inc=$(cd "$arch/../../include" && pwd)
out=${1:-$(mktemp -d)}
mkdir -p "$out"
flags="-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
 -Werror=vla -Wcast-qual -Wpointer-arith -Wundef -Wframe-larger-than=1024 -ffreestanding -fno-builtin
 -mno-red-zone -mgeneral-regs-only -fno-strict-aliasing -fno-common -fPIC -O2 -I$inc"
rc=0
for cc in gcc clang; do
    command -v $cc >/dev/null 2>&1 || { echo "skip $cc (not installed)"; continue; }
    d="$out/$cc"; mkdir -p "$d"
    objs=""
    for f in "$arch"/*.c "$arch"/*.S; do
        o="$d/$(basename "$f").o"
        $cc $flags -c "$f" -o "$o"
        objs="$objs $o"
    done
    $cc -std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -I"$inc" -I"$arch" \
        "$here/arch_selftest.c" "$here/sim_asm.S" $objs -o "$d/arch_selftest"
    echo "== backend built with $cc, on this host"
    "$d/arch_selftest" || rc=1
    echo "== backend built with $cc, on a host that answers ring-3 VMCALL itself (as KVM does)"
    HVCORE_SELFTEST_HOST=kvm "$d/arch_selftest" || rc=1
done
exit $rc
