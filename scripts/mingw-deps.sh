#!/usr/bin/env bash
# Static mingw-w64 builds of Zydis (with Zycore) and jansson for hvctl.exe,
# from Debian's source tarballs (Debian ships these libraries for Linux
# only). Downloads to the cache, checks each sha256, builds into
# $CACHE/prefix (lib/libZydis.a, lib/libZycore.a, lib/libjansson.a and the
# headers); platform/windows/CMakeLists.txt links hvctl.exe against that
# prefix when it is there. Without network (or on any failure) nothing is
# installed and hvctl.exe keeps refusing custom code and --json, saying why.
# Usage: scripts/mingw-deps.sh [CACHE]   (default /var/cache/hvcore-mingw)
# Exit 0 = the prefix is complete; 1 = it is not (the reason on stderr).
set -euo pipefail
CACHE=${1:-${HVCORE_MINGW_CACHE:-/var/cache/hvcore-mingw}}
PREFIX=$CACHE/prefix
TRIPLET=x86_64-w64-mingw32
POOL=http://deb.debian.org/debian/pool/main
# name  url  sha256
SRCS=(
  "zydis_4.1.1.orig.tar.gz $POOL/z/zydis/zydis_4.1.1.orig.tar.gz dcc31180a31e7f568d79d55f8181bd961981559a5666bf6fac43a69ad8b406bf"
  "zycore-c_1.5.2.orig.tar.gz $POOL/z/zycore-c/zycore-c_1.5.2.orig.tar.gz 828f2e2e502c4a339c53162b865afd13de80fdfa068a9ba18032e743243027ea"
  "jansson_2.14.orig.tar.gz $POOL/j/jansson/jansson_2.14.orig.tar.gz c739578bf6b764aa0752db9a2fdadcfe921c78f1228c7ec0bb47fa804c55d17b"
)
STAMP=$PREFIX/.complete-zydis-4.1.1-zycore-1.5.2-jansson-2.14
say() { echo "mingw-deps: $*" >&2; }

[ -f "$STAMP" ] && { say "Zydis 4.1.1, Zycore 1.5.2, jansson 2.14 for mingw-w64 in $PREFIX"; exit 0; }
command -v $TRIPLET-gcc > /dev/null || { say "no $TRIPLET-gcc: not built"; exit 1; }
mkdir -p "$CACHE/src"
for s in "${SRCS[@]}"; do
  read -r name url sum <<< "$s"
  f=$CACHE/src/$name
  if ! echo "$sum  $f" | sha256sum -c --status 2> /dev/null; then
    rm -f "$f.part"
    if ! curl -fsSL --retry 2 --connect-timeout 15 -o "$f.part" "$url" 2> "$CACHE/src/curl.err"; then
      say "cannot download $url ($(tr '\n' ' ' < "$CACHE/src/curl.err")): hvctl.exe stays without custom code and --json"
      rm -f "$f.part"
      exit 1
    fi
    if ! echo "$sum  $f.part" | sha256sum -c --status; then
      say "$name: sha256 mismatch (want $sum, got $(sha256sum "$f.part" | cut -d' ' -f1)): not used"
      rm -f "$f.part"
      exit 1
    fi
    mv "$f.part" "$f"
  fi
done

W=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$W"' EXIT
tar -C "$W" -xzf "$CACHE/src/zydis_4.1.1.orig.tar.gz"
tar -C "$W" -xzf "$CACHE/src/zycore-c_1.5.2.orig.tar.gz"
tar -C "$W" -xzf "$CACHE/src/jansson_2.14.orig.tar.gz"
ZYDIS=$(echo "$W"/zyantific-zydis-*) ZYCORE=$(echo "$W"/zyantific-zycore-c-*) JANSSON=$W/jansson-2.14
TC=$(cd "$(dirname "$0")/.." && pwd)/cmake/mingw-w64.cmake
rm -rf "$PREFIX"
cfg() { cmake -S "$1" -B "$2" -DCMAKE_TOOLCHAIN_FILE="$TC" -DCMAKE_BUILD_TYPE=Release \
          -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_POLICY_DEFAULT_CMP0077=NEW "${@:3}" > "$2.log" 2>&1 || {
          tail -n 20 "$2.log" >&2; return 1; }; }
bld() { cmake --build "$1" -j"$(nproc)" >> "$1.log" 2>&1 && cmake --install "$1" >> "$1.log" 2>&1 || {
          tail -n 20 "$1.log" >&2; return 1; }; }
say "building Zydis 4.1.1 (Zycore 1.5.2) and jansson 2.14 with $TRIPLET-gcc into $PREFIX"
# Zydis builds Zycore in its tree (ZYAN_ZYCORE_PATH) but does not install
# it: libZycore.a and its headers are copied next to Zydis's.
if ! { cfg "$ZYDIS" "$W/b-zydis" -DZYAN_ZYCORE_PATH="$ZYCORE" -DZYDIS_BUILD_SHARED_LIB=OFF \
         -DZYCORE_BUILD_SHARED_LIB=OFF -DZYDIS_BUILD_TOOLS=OFF -DZYDIS_BUILD_EXAMPLES=OFF -DZYDIS_BUILD_TESTS=OFF \
         -DZYDIS_BUILD_DOXYGEN=OFF && bld "$W/b-zydis" &&
       cp "$W/b-zydis/zycore/libZycore.a" "$PREFIX/lib/" && cp -r "$ZYCORE/include/Zycore" "$PREFIX/include/" &&
       cfg "$JANSSON" "$W/b-jansson" -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_EXAMPLES=OFF \
         -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_BUILD_DOCS=OFF && bld "$W/b-jansson"; }; then
  say "build failed: hvctl.exe stays without custom code and --json"
  rm -rf "$PREFIX"
  exit 1
fi
for f in lib/libZydis.a lib/libZycore.a lib/libjansson.a include/Zydis/Zydis.h include/Zycore/Types.h include/jansson.h; do
  [ -f "$PREFIX/$f" ] || { say "$PREFIX/$f not installed: not used"; rm -rf "$PREFIX"; exit 1; }
done
touch "$STAMP"
say "done: $PREFIX"
