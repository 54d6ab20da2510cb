# shellcheck shell=bash
# Common helpers for the end-to-end harness (sourced, not run).
# Everything is kept under ${HVCORE_E2E_CACHE:-/var/cache/hvcore-e2e}:
#   current            -> the kernel ABI (e.g. 6.1.0-56-amd64) prepared by setup.sh
#   <VER>/image/       the linux-image-<VER> package, extracted (never installed)
#   <VER>/vmlinux      uncompressed ELF taken from the bzImage's XZ payload
#   <VER>/vmlinux.pvh  the same without the zero tails of its segments (what pvhload boots)
#   <VER>/pkgversion   Debian version of linux-image-<VER> (e.g. 6.1.192-2)
#   pvhload/           the vmlinux-trim host tool, and pvhload/<HASH>/pvhload.elf, the PVH loader
#                      built from test/e2e/pvhload sources with that hash

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

# Build the PVH loader into the cache unless it is built already; prints its path.
# Keyed by the sources' hash, not their mtimes: several checkouts (worktrees)
# share the cache, and an older checkout's loader must not pass for a newer one.
e2e_build_pvhload() {
    local src="$E2E_DIR/pvhload" out elf hash
    hash=$(cd "$src" && cat pvhload.c entry.S pvhload.ld Makefile | sha256sum | cut -c1-16)
    out="$E2E_CACHE/pvhload/$hash"
    elf="$out/pvhload.elf"
    if [[ -s $elf ]]; then
        printf '%s\n' "$elf"
        return 0
    fi
    # Built aside and renamed: two runs building at once never see half a loader.
    mkdir -p "$out.$$"
    make -s -C "$src" O="$out.$$" >&2 || { rm -rf "$out.$$"; e2e_die "building the PVH loader failed"; }
    mv -T "$out.$$" "$out" 2>/dev/null || rm -rf "$out.$$"
    printf '%s\n' "$elf"
}

# ---- emulated CPU models -----------------------------------------------------
# Everything a model needs is kept here, in one place. e2e_model NAME sets
#   E2E_MODEL          the harness's name (haswell, tigerlake, icelake)
#   E2E_BOCHS_CPU      Bochs's "cpu: model=" value
#   E2E_MODEL_CMDLINE  extra kernel parameters (may be empty)
#   E2E_MODEL_MSRS     contents of a "cpu: msrs=" file (Bochs's msrs.def format;
#                      may be empty; boot.sh writes it to WORKDIR/msrs.def)
# The default model is ${HVCORE_E2E_MODEL:-haswell}. Measured facts behind the
# settings: test/e2e/MODELS.md.
E2E_MODELS='haswell tigerlake icelake'

# Bochs 2.7's tigerlake and corei7_icelake_u models, booting Debian's 6.1:
#  - CPUID 0x15/0x16 claim a GHz-class TSC (2.4 GHz on tigerlake) while the TSC
#    counts emulated instructions (ips = 50 MHz). The kernel trusts CPUID 0x15
#    (TSC_KNOWN_FREQ, no refinement): every delay and timer runs ~48x long.
#    tsc_early_khz=50000 skips CPUID 0x15; the HPET refinement then confirms 50 MHz.
#  - CPUID 0xD advertises PKRU (bit 9) in XCR0 but subleaf 9 reports size 0 /
#    offset 0, and 0xD.1:EBX gives the standard (not the compacted) size: Linux
#    warns "misordered xstate", "XFEATURE_PKRU: struct is 8 bytes, cpu state 0
#    bytes", "XSAVE consistency problem: size 2432 != kernel_size 2688" and
#    turns XSAVE off altogether. clearcpuid=pku,xsaves,xsavec keeps Linux on
#    standard-format XSAVE with x87/SSE/AVX/AVX-512 (xfeatures 0xe7). Only the
#    kernel's own use is affected: CPUID still reports PKU/XSAVES to a hypervisor.
#  - IA32_MISC_ENABLE (0x1a0) is not implemented (reads 0), so Linux says
#    "Disabled fast string operations" and drops ERMS, but keeps FSRM (CPUID
#    7.0:EDX[4]). 6.1's memmove then has its short-length check patched out (FSRM)
#    without the ERMS "rep movsb" jump: the first memmove shorter than 32 bytes
#    (printk_sprint, right after "LSM: Security Framework initializing") runs off
#    the end of the kernel mapping and the boot spins in page faults. A
#    configurable MSR 0x1a0 with fast strings on (bit 0) makes CPUID and
#    MISC_ENABLE agree (ERMS and FSRM both kept).
E2E_MODEL_NEW_CMDLINE='tsc_early_khz=50000 clearcpuid=pku,xsaves,xsavec'
E2E_MODEL_NEW_MSRS='# IA32_MISC_ENABLE: fast strings enabled (bit 0); Bochs 2.7 does not implement it
# ADDRESS TYPE RESET_HI RESET_LO RSRVD_HI RSRVD_LO IGNRD_HI IGNRD_LO
0x1a0 0 00000000 00000001 00000000 00000000 00000000 00000000'

# shellcheck disable=SC2034 # the E2E_* variables are the function's output
e2e_model() {
    local m=${1:-${HVCORE_E2E_MODEL:-haswell}}
    E2E_MODEL=$m E2E_MODEL_CMDLINE='' E2E_MODEL_MSRS=''
    case $m in
    haswell) E2E_BOCHS_CPU=corei7_haswell_4770 ;;
    tigerlake) E2E_BOCHS_CPU=tigerlake ;;
    icelake) E2E_BOCHS_CPU=corei7_icelake_u ;;
    *) e2e_die "unknown CPU model '$m' (known: $E2E_MODELS)" ;;
    esac
    if [[ $m != haswell ]]; then
        E2E_MODEL_CMDLINE=$E2E_MODEL_NEW_CMDLINE
        E2E_MODEL_MSRS=$E2E_MODEL_NEW_MSRS
    fi
}
