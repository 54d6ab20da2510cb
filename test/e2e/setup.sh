#!/usr/bin/env bash
# Prepare the host for the end-to-end tests (idempotent; run as root).
#  - installs Bochs (bochs-bin, with VMX/SMP and the rfb display), its BIOSes,
#    busybox-static, xorriso, isolinux/syslinux, cpio, xz, gcc, make and
#    linux-headers-<VER>-amd64, VER being the ABI that Debian's
#    linux-image-amd64 depends on right now;
#  - downloads linux-image-<VER>-amd64 (apt-get download; never installed on
#    the host), extracts it into the cache and pulls the uncompressed vmlinux
#    out of the bzImage's XZ payload (for the fast PVH boot path);
#  - builds the PVH loader.
# Environment: HVCORE_E2E_CACHE (default /var/cache/hvcore-e2e),
#              HVCORE_E2E_REFRESH=1 forces one 'apt-get update' first.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export DEBIAN_FRONTEND=noninteractive
T0=$(date +%s)
[[ $(id -u) -eq 0 ]] || e2e_die "setup.sh must run as root (apt-get install)"
command -v apt-get >/dev/null || e2e_die "apt-get not found: this harness needs Debian"

UPDATED=0
apt_update_once() {
    [[ $UPDATED -eq 1 ]] && return 0
    e2e_log "apt-get update"
    apt-get update -qq >&2 || e2e_die "apt-get update failed"
    UPDATED=1
}
[[ ${HVCORE_E2E_REFRESH:-0} == 1 ]] && apt_update_once

# The kernel ABI that the linux-image-amd64 metapackage depends on now.
resolve_kver() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1
}
KVER=$(resolve_kver || true)
if [[ -z $KVER ]]; then
    apt_update_once
    KVER=$(resolve_kver || true)
fi
[[ -n $KVER ]] || e2e_die "cannot resolve the kernel ABI from 'apt-cache depends linux-image-amd64'"

PKGS=(bochs bochs-term bochsbios vgabios busybox-static xorriso isolinux syslinux-common
      cpio xz-utils gzip gcc make libc6-dev binutils "linux-headers-$KVER")
missing_pkgs() {
    local p
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
            printf '%s\n' "$p"
    done
}
mapfile -t MISSING < <(missing_pkgs)
if ((${#MISSING[@]})); then
    apt_update_once
    # The lists may have moved on since KVER was resolved: resolve again.
    NEW=$(resolve_kver || true)
    if [[ -n $NEW && $NEW != "$KVER" ]]; then
        e2e_log "kernel ABI moved from $KVER to $NEW after apt-get update"
        KVER=$NEW
        PKGS[-1]="linux-headers-$KVER"
        mapfile -t MISSING < <(missing_pkgs)
    fi
    e2e_log "installing: ${MISSING[*]}"
    apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >&2 ||
        e2e_die "apt-get install failed for: ${MISSING[*]}"
fi
command -v bochs-bin >/dev/null || e2e_die "bochs-bin not found after installing bochs"
[[ -d $(e2e_headers_dir "$KVER") ]] || e2e_die "missing $(e2e_headers_dir "$KVER")"

# ---- kernel image: download, extract, pull out vmlinux ----
KDIR=$E2E_CACHE/$KVER
mkdir -p "$KDIR"
VMLINUZ=$KDIR/image/boot/vmlinuz-$KVER
if [[ ! -s $VMLINUZ || ! -s $KDIR/pkgversion ]]; then
    DL=$(mktemp -d "$E2E_CACHE/dl.XXXXXX")
    chmod 755 "$DL"                      # let apt's _apt user write the download
    chown _apt "$DL" 2>/dev/null || true
    e2e_log "apt-get download linux-image-$KVER"
    if ! (cd "$DL" && apt-get download -qq "linux-image-$KVER" >&2); then
        # An old ABI can vanish from the mirror after a security update.
        apt_update_once
        NEW=$(resolve_kver || true)
        [[ -n $NEW && $NEW == "$KVER" ]] ||
            e2e_die "linux-image-$KVER is no longer available (now: ${NEW:-?}); run setup.sh again"
        (cd "$DL" && apt-get download -qq "linux-image-$KVER" >&2) ||
            e2e_die "apt-get download linux-image-$KVER failed"
    fi
    DEB=$(ls "$DL"/linux-image-"$KVER"_*.deb)
    rm -rf "$KDIR/image.tmp"
    dpkg-deb -x "$DEB" "$KDIR/image.tmp" || e2e_die "dpkg-deb -x $DEB failed"
    [[ -s $KDIR/image.tmp/boot/vmlinuz-$KVER ]] || e2e_die "no boot/vmlinuz-$KVER in $DEB"
    rm -rf "$KDIR/image"
    mv "$KDIR/image.tmp" "$KDIR/image"
    dpkg-deb -f "$DEB" Version >"$KDIR/pkgversion"
    rm -rf "$DL"
    rm -f "$KDIR/vmlinux"
fi

is_pvh_vmlinux() { # ELF64 x86-64 with a Xen PHYS32_ENTRY note (type 0x12)
    local notes
    [[ $(head -c 5 "$1" | od -An -tx1 | tr -d ' \n') == 7f454c4602 ]] || return 1
    notes=$(LC_ALL=C readelf -nW "$1" 2>/dev/null) || return 1
    grep -Eq '^ +Xen +0x0000000[48][[:space:]].*(0x00000012|PHYS32)' <<<"$notes"
}
if [[ ! -s $KDIR/vmlinux ]] || ! is_pvh_vmlinux "$KDIR/vmlinux"; then
    e2e_log "extracting vmlinux from the bzImage XZ payload"
    OFF=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$VMLINUZ" | head -n1 | cut -d: -f1 || true)
    [[ -n $OFF ]] || e2e_die "no XZ payload found in $VMLINUZ (kernel not XZ-compressed?)"
    # --single-stream stops after the first stream: the bytes after it (the rest of
    # the bzImage) are ignored instead of being reported as corrupt data.
    # (tail may die of SIGPIPE when xz stops early: only xz's status matters.)
    xz -dc --single-stream < <(tail -c +"$((OFF + 1))" "$VMLINUZ") >"$KDIR/vmlinux.tmp" ||
        e2e_die "xz could not decompress the payload at offset $OFF of $VMLINUZ"
    is_pvh_vmlinux "$KDIR/vmlinux.tmp" ||
        e2e_die "the payload is not an x86-64 vmlinux with a PVH entry note (CONFIG_PVH?)"
    mv "$KDIR/vmlinux.tmp" "$KDIR/vmlinux"
fi
# Compact copy for the PVH path: ~24 MB of zeroed .bss/.brk dropped from the file
# (the loader zero-fills p_memsz), section headers dropped: 66 MB -> ~35 MB.
TRIM=$E2E_CACHE/pvhload/vmlinux-trim
mkdir -p "$E2E_CACHE/pvhload"
if [[ ! -x $TRIM || $E2E_DIR/pvhload/vmlinux-trim.c -nt $TRIM ]]; then
    gcc -O2 -Wall -Wextra -o "$TRIM" "$E2E_DIR/pvhload/vmlinux-trim.c" ||
        e2e_die "building vmlinux-trim failed"
fi
if [[ ! -s $KDIR/vmlinux.pvh || $KDIR/vmlinux -nt $KDIR/vmlinux.pvh || $TRIM -nt $KDIR/vmlinux.pvh ]]; then
    "$TRIM" "$KDIR/vmlinux" "$KDIR/vmlinux.pvh.tmp" || e2e_die "vmlinux-trim failed"
    is_pvh_vmlinux "$KDIR/vmlinux.pvh.tmp" || e2e_die "the trimmed vmlinux lost its PVH note"
    mv "$KDIR/vmlinux.pvh.tmp" "$KDIR/vmlinux.pvh"
fi

printf '%s\n' "$KVER" >"$E2E_CACHE/current.tmp"
mv "$E2E_CACHE/current.tmp" "$E2E_CACHE/current"

PVHLOAD=$(e2e_build_pvhload)

KSTR=$(LC_ALL=C grep -a -m1 -o 'Linux version [^ ]* ([^)]*)' "$KDIR/vmlinux" | head -n1 || true)
echo "bochs:    $(e2e_bochs_version) ($(command -v bochs-bin))"
echo "kernel:   $(e2e_kernel_version "$KVER")${KSTR:+ - $KSTR}"
echo "headers:  $(e2e_headers_dir "$KVER")"
echo "vmlinux:  $KDIR/vmlinux ($(stat -c %s "$KDIR/vmlinux") bytes; trimmed for PVH: $(stat -c %s "$KDIR/vmlinux.pvh"))"
echo "pvhload:  $PVHLOAD"
echo "setup done in $(($(date +%s) - T0)) s"
