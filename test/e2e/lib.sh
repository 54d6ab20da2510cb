# shellcheck shell=bash
# Common helpers for the end-to-end harness (sourced, not run).
# Everything is kept under ${HVCORE_E2E_CACHE:-/var/cache/hvcore-e2e}:
#   current            -> the kernel ABI (e.g. 6.1.0-56-amd64) prepared by setup.sh
#   <VER>/image/       the linux-image-<VER> package, extracted (never installed)
#   <VER>/vmlinux      uncompressed ELF taken from the bzImage's XZ payload
#   <VER>/vmlinux.pvh  the same without the zero tails of its segments (what pvhload boots)
#   <VER>/pkgversion   Debian version of linux-image-<VER> (e.g. 6.1.192-2)
#   pvhload/           the PVH loader and the vmlinux-trim host tool (from test/e2e/pvhload)

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_CACHE=${HVCORE_E2E_CACHE:-/var/cache/hvcore-e2e}

e2e_log() { printf '[e2e] %s\n' "$*" >&2; }
e2e_die() { printf '[e2e] ERROR: %s\n' "$*" >&2; exit 1; }

# The kernel ABI prepared by setup.sh (e.g. 6.1.0-56-amd64).
e2e_kver() {
    local f="$E2E_CACHE/current" v
    [[ -s $f ]] || e2e_die "no kernel prepared in $E2E_CACHE: run test/e2e/setup.sh first"
    v=$(<"$f")
    [[ -s $E2E_CACHE/$v/vmlinux.pvh && -s $E2E_CACHE/$v/image/boot/vmlinuz-$v ]] ||
        e2e_die "cache for $v is incomplete: run test/e2e/setup.sh again"
    printf '%s\n' "$v"
}

e2e_headers_dir() { printf '/usr/src/linux-headers-%s\n' "$1"; }

e2e_bochs_version() { dpkg-query -W -f '${Version}' bochs 2>/dev/null || echo unknown; }

e2e_kernel_version() { # "6.1.0-56-amd64 (Debian 6.1.192-2)"
    local v=$1 p=unknown
    [[ -s $E2E_CACHE/$v/pkgversion ]] && p=$(<"$E2E_CACHE/$v/pkgversion")
    printf '%s (Debian %s)\n' "$v" "$p"
}

# Build the PVH loader into the cache unless it is up to date; prints its path.
e2e_build_pvhload() {
    local src="$E2E_DIR/pvhload" out="$E2E_CACHE/pvhload" elf
    elf="$out/pvhload.elf"
    if [[ -s $elf && ! $src/pvhload.c -nt $elf && ! $src/entry.S -nt $elf &&
          ! $src/pvhload.ld -nt $elf && ! $src/Makefile -nt $elf ]]; then
        printf '%s\n' "$elf"
        return 0
    fi
    mkdir -p "$out"
    make -s -C "$src" O="$out" >&2 || e2e_die "building the PVH loader failed"
    printf '%s\n' "$elf"
}
