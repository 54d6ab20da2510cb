#!/usr/bin/env bash
# initramfs.sh KVER WORKDIR OUT.gz: busybox + guest/init.sh + hvuefi.ko built
# against linux-headers-KVER (installed by test/e2e/setup.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KVER=$1 WD=$2 OUT=$3
HDR=/usr/src/linux-headers-$KVER
[[ -d $HDR ]] || { echo "missing $HDR (run test/e2e/setup.sh)" >&2; exit 1; }
rm -rf "$WD" && mkdir -p "$WD/mod" "$WD/root/bin" "$WD/root/proc" "$WD/root/sys" "$WD/root/dev" "$WD/root/tmp"
cp "$HERE/guest/hvuefi.c" "$HERE/guest/Kbuild" "$WD/mod/"
make -s -C "$HDR" M="$WD/mod" modules >"$WD/mod.log" 2>&1 || { cat "$WD/mod.log" >&2; exit 1; }
cp "$WD/mod/hvuefi.ko" "$WD/root/"
cp /bin/busybox "$WD/root/bin/busybox"
file -L /bin/busybox | grep -q 'statically linked' || { echo "/bin/busybox is not static (busybox-static)" >&2; exit 1; }
cp "$HERE/guest/init.sh" "$WD/root/init"
chmod +x "$WD/root/init"
(cd "$WD/root" && find . | cpio -o -H newc --quiet) | gzip -9 >"$OUT"
