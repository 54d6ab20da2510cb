#!/usr/bin/env bash
# The Debian packages, end to end: build the three .debs with CPack, check
# them with lintian, install them with dpkg -i into a clean Debian 12 root
# (made with mmdebstrap from deb.debian.org), and there build
# examples/consumer against the installed libhvcore-dev, run `dkms build` of
# hvcore-dkms for the e2e guest kernel's headers, render `man hvctl` with
# warnings on and run hvctl. Then the DKMS-built hvcore.ko is loaded in the
# Bochs guest for one cycle (hv.sh --module, dkms_body.sh).
#
# usage: packages.sh [--build DIR] [--workdir DIR] [--cpus N] [--no-boot] [--no-setup]
#   --build DIR    CPack build tree (default WORKDIR/build-pkg)
#   --workdir DIR  scratch dir (default: mktemp); the clean root lives in WORKDIR/root
#                  only while the script runs
#   --cpus N       emulated CPUs for the guest cycle (default 2)
#   --no-boot      stop after the clean-root checks (no Bochs run)
#   --no-setup     do not run setup.sh (the e2e kernel must be prepared)
#
# The clean root starts from a tarball cached as
#   $HVCORE_E2E_CACHE/debian12-root-<KVER>.tar
# (mmdebstrap --variant=minbase bookworm, plus the tools the checks themselves
# use: cmake, gcc, make, pkg-config, man-db, and linux-headers-<KVER> for the
# kernel the guest boots). Without the cache it is made again (7.5 min
# measured on a loaded 2-core machine, most of it downloading). The packages' own Depends come from apt inside
# the root on every run (apt-get satisfy with each .deb's Depends field), then
# the .debs go in with dpkg -i. Downloaded .debs are kept in
# $HVCORE_E2E_CACHE/debian12-root-apt (a bind mount over the root's apt archive).
# Prints "PKG PASS|FAIL <check>" lines and "PKG-TIME <phase> <seconds>".
# Needs root (mmdebstrap, chroot, mount).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

BUILD= WORK= CPUS=2 BOOT=1 SETUP=1
while (($#)); do
    case $1 in
    --build) BUILD=${2:?}; shift 2 ;;
    --workdir) WORK=${2:?}; shift 2 ;;
    --cpus) CPUS=${2:?}; shift 2 ;;
    --no-boot) BOOT=0; shift ;;
    --no-setup) SETUP=0; shift ;;
    -h | --help) usage ;;
    *) echo "packages.sh: unknown argument: $1" >&2; usage ;;
    esac
done
[[ $(id -u) -eq 0 ]] || e2e_die "packages.sh must run as root (mmdebstrap, chroot, mount)"
for t in mmdebstrap lintian cpack chroot; do
    command -v "$t" >/dev/null || e2e_die "$t not found (scripts/deps.sh installs mmdebstrap and lintian)"
done
((SETUP)) && "$E2E_DIR/setup.sh" >&2
KVER=$(e2e_kver)
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/hvcore-pkg.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
BUILD=${BUILD:-$WORK/build-pkg}
R=$WORK/root
FAILS=0
pass() { echo "PKG PASS $*"; }
fail() { echo "PKG FAIL $*"; FAILS=$((FAILS + 1)); }
T=$(date +%s)
phase() { local now; now=$(date +%s); echo "PKG-TIME $1 $((now - T))"; T=$now; }

# ---- 1. the .debs -------------------------------------------------------------
e2e_log "building the packages in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DHVCORE_STRIP_INSTALL=ON -DHVCORE_BUILD_TESTS=OFF -DHVCORE_UEFI=OFF >"$WORK/cmake.log" 2>&1 ||
    { tail -n 30 "$WORK/cmake.log" >&2; e2e_die "cmake (package build) failed"; }
cmake --build "$BUILD" -j2 >>"$WORK/cmake.log" 2>&1 ||
    { tail -n 30 "$WORK/cmake.log" >&2; e2e_die "package build failed"; }
rm -f "$BUILD"/*.deb
(cd "$BUILD" && cpack -G DEB) >"$WORK/cpack.log" 2>&1 ||
    { tail -n 30 "$WORK/cpack.log" >&2; e2e_die "cpack -G DEB failed"; }
mapfile -t DEBS < <(ls "$BUILD"/*.deb)
((${#DEBS[@]} == 3)) || e2e_die "expected 3 .debs in $BUILD, found ${#DEBS[@]}"
for d in "${DEBS[@]}"; do echo "PKG-DEB $(basename "$d") $(stat -c %s "$d") bytes"; done
phase build

# ---- 2. lintian (overrides ship in the packages, each with its reason) ----------
if lintian --fail-on error,warning "${DEBS[@]}" >"$WORK/lintian.log" 2>&1 && ! grep -q '^[EW]:' "$WORK/lintian.log"; then
    pass "lintian: no error or warning ($(grep -c . "$WORK/lintian.log" || true) other lines)"
else
    cat "$WORK/lintian.log"
    fail "lintian"
fi
phase lintian

# ---- 3. a clean Debian 12 root --------------------------------------------------
TAR=$E2E_CACHE/debian12-root-$KVER.tar
APTCACHE=$E2E_CACHE/debian12-root-apt
MIRRORS=("deb http://deb.debian.org/debian bookworm main"
         "deb http://deb.debian.org/debian bookworm-updates main"
         "deb http://deb.debian.org/debian-security bookworm-security main")
mkdir -p "$E2E_CACHE" "$APTCACHE/partial"
(
    flock 9
    if [[ ! -s $TAR ]]; then
        e2e_log "creating the clean Debian 12 root tarball $TAR (mmdebstrap)"
        rm -f "$E2E_CACHE"/debian12-root-*.tar    # an older kernel ABI's
        mmdebstrap --format=tar --variant=minbase --include="cmake,gcc,make,libc6-dev,pkg-config,man-db,linux-headers-$KVER" \
            bookworm "$TAR.tmp" "${MIRRORS[@]}" >"$WORK/mmdebstrap.log" 2>&1 ||
            { tail -n 30 "$WORK/mmdebstrap.log" >&2; rm -f "$TAR.tmp"; exit 1; }
        mv "$TAR.tmp" "$TAR"
    fi
) 9>"$E2E_CACHE/debian12-root.lock" || e2e_die "mmdebstrap failed (log: $WORK/mmdebstrap.log)"
phase root-tarball

MOUNTS=()
cleanup() {
    local m i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" || true; done
    for m in "${MOUNTS[@]}"; do
        mountpoint -q "$m" && { e2e_log "still mounted: $m; leaving $R in place"; return; }
    done
    rm -rf "$R"
}
trap cleanup EXIT
rm -rf "$R"
mkdir -p "$R"
tar -C "$R" -xf "$TAR"
mount -t proc proc "$R/proc" && MOUNTS+=("$R/proc")
mount --bind "$APTCACHE" "$R/var/cache/apt/archives" && MOUNTS+=("$R/var/cache/apt/archives")
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }
mkdir -p "$R/tmp/debs"
cp "${DEBS[@]}" "$R/tmp/debs/"
in_root apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; e2e_die "apt-get update in the root failed"; }
DEPENDS=$(for d in "${DEBS[@]}"; do dpkg-deb -f "$d" Depends; done | paste -sd, | sed 's/, */, /g')
echo "PKG-DEPENDS $DEPENDS"
if in_root apt-get satisfy -y -qq --no-install-recommends "$DEPENDS" >>"$WORK/apt.log" 2>&1; then
    pass "depends: apt installed the packages' Depends"
else
    tail -n 30 "$WORK/apt.log"
    fail "depends: apt-get satisfy '$DEPENDS'"
fi
phase depends
if in_root sh -c 'dpkg -i /tmp/debs/*.deb' >"$WORK/dpkg.log" 2>&1; then
    pass "dpkg -i: $(cd "$R/tmp/debs" && echo *.deb)"
else
    cat "$WORK/dpkg.log"
    fail "dpkg -i"
fi
in_root dpkg-query -W libhvcore-dev hvcore-dkms hvctl | sed 's/^/PKG-INSTALLED /'
phase dpkg-i

# ---- 4. in the root: consumer, dkms build, man, hvctl ---------------------------
cp -a "$ROOT/examples/consumer" "$R/tmp/consumer"
if in_root sh -c 'cmake -S /tmp/consumer -B /tmp/consumer/build && cmake --build /tmp/consumer/build -j2 &&
                  ctest --test-dir /tmp/consumer/build --output-on-failure' >"$WORK/consumer.log" 2>&1 &&
   in_root sh -c 'cc -o /tmp/pc-test /tmp/consumer/my_exit_handler_test.c $(pkg-config --cflags --libs hvcore-testing) &&
                  /tmp/pc-test' >>"$WORK/consumer.log" 2>&1; then
    pass "consumer: examples/consumer built with find_package(hvcore) and with pkg-config, its test passed"
else
    tail -n 40 "$WORK/consumer.log"
    fail "consumer"
fi
phase consumer

VER=$(dpkg-deb -f "$(ls "$BUILD"/hvcore-dkms_*.deb)" Version)
VER=${VER%-*}
in_root dkms status -m hvcore | sed 's/^/PKG-DKMS-STATUS (after dpkg -i) /'
KO=/var/lib/dkms/hvcore/$VER/$KVER/x86_64/module/hvcore.ko
if in_root dkms build -m hvcore -v "$VER" -k "$KVER" --force >"$WORK/dkms.log" 2>&1 && [[ -s $R$KO ]]; then
    cp "$R$KO" "$WORK/hvcore-dkms.ko"
    pass "dkms build: hvcore $VER for $KVER ($(stat -c %s "$WORK/hvcore-dkms.ko") bytes, vermagic $(modinfo -F vermagic "$WORK/hvcore-dkms.ko" | cut -d' ' -f1))"
else
    tail -n 40 "$WORK/dkms.log"
    [[ -f $R/var/lib/dkms/hvcore/$VER/build/make.log ]] && tail -n 40 "$R/var/lib/dkms/hvcore/$VER/build/make.log"
    fail "dkms build -m hvcore -v $VER -k $KVER"
fi
phase dkms-build

for page in "1 hvctl" "7 hvcore"; do
    set -- $page
    if in_root sh -c "MANWIDTH=80 man --warnings=w $1 $2 2>/tmp/man-$2.err >/tmp/man-$2.txt" &&
       [[ ! -s $R/tmp/man-$2.err && $(grep -c . "$R/tmp/man-$2.txt") -gt 20 ]]; then
        pass "man $1 $2: renders, no groff warning ($(wc -l <"$R/tmp/man-$2.txt") lines)"
    else
        cat "$R/tmp/man-$2.err" 2>/dev/null
        fail "man $1 $2"
    fi
done
if out=$(in_root hvctl --version 2>&1) && in_root hvctl --target sim:cores=4 rdmsr 174 core 3 >/dev/null 2>&1; then
    pass "hvctl: $out; rdmsr on the simulated machine"
else
    echo "$out"
    fail "hvctl"
fi
cleanup
trap - EXIT
phase checks

# ---- 5. the DKMS-built module in the Bochs guest, one cycle -------------------------
if ((BOOT)) && [[ -s $WORK/hvcore-dkms.ko ]]; then
    if "$E2E_DIR/hv.sh" --no-setup --cpus "$CPUS" --module "$WORK/hvcore-dkms.ko" --body "$E2E_DIR/dkms_body.sh" \
        --workdir "$WORK/boot" >"$WORK/boot.log" 2>&1; then
        pass "guest: the DKMS-built hvcore.ko loaded, virtualized every CPU and unloaded ($CPUS CPUs)"
    else
        fail "guest: the DKMS-built hvcore.ko (log: $WORK/boot.log)"
    fi
    grep -E '^(E2E (PASS|FAIL)|== results|e2e:)' "$WORK/boot.log" || tail -n 30 "$WORK/boot.log"
    phase guest
fi
echo "packages: $FAILS failed"
((FAILS == 0))
