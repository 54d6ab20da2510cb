#!/usr/bin/env bash
# initramfs.sh KVER WORKDIR OUT.gz [HVCTL]: busybox + guest/init.sh +
# hvuefi.ko and hvcore_vmcall.ko (platform/uefi/linux) built against
# linux-headers-KVER (installed by test/e2e/setup.sh), and hvctl with the
# shared libraries it loads when HVCTL is given.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KVER=$1 WD=$2 OUT=$3 HVCTL=${4:-}
ROOT=$(cd "$HERE/../../.." && pwd)
HDR=/usr/src/linux-headers-$KVER
[[ -d $HDR ]] || { echo "missing $HDR (run test/e2e/setup.sh)" >&2; exit 1; }
rm -rf "$WD" && mkdir -p "$WD/mod" "$WD/root/bin" "$WD/root/proc" "$WD/root/sys" "$WD/root/dev" "$WD/root/tmp"
cp "$HERE/guest/hvuefi.c" "$HERE/guest/Kbuild" "$WD/mod/"
make -s -C "$HDR" M="$WD/mod" modules >"$WD/mod.log" 2>&1 || { cat "$WD/mod.log" >&2; exit 1; }
cp "$WD/mod/hvuefi.ko" "$WD/root/"
make -s -C "$ROOT/platform/uefi/linux" KDIR="$HDR" OUT="$WD/vmcall" >"$WD/vmcall.log" 2>&1 ||
    { cat "$WD/vmcall.log" >&2; exit 1; }
cp "$WD/vmcall/hvcore_vmcall.ko" "$WD/root/"
if [[ -n $HVCTL ]]; then
    # hvctl is dynamic (Zydis has no static library in Debian): its
    # libraries go along at their own paths.
    cp "$HVCTL" "$WD/root/bin/hvctl"
    for lib in $(ldd "$HVCTL" | grep -o '/[^ ]*'); do
        mkdir -p "$WD/root$(dirname "$lib")"
        cp -L "$lib" "$WD/root$lib"
    done
fi
cp /bin/busybox "$WD/root/bin/busybox"
if LC_ALL=C readelf -lW /bin/busybox | grep -q INTERP; then
    echo "/bin/busybox is not static (package busybox-static)" >&2
    exit 1
fi
cp "$HERE/guest/init.sh" "$WD/root/init"
chmod +x "$WD/root/init"
(cd "$WD/root" && find . | cpio -o -H newc --quiet) | gzip -9 >"$OUT"
