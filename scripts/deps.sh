#!/usr/bin/env bash
# Install the Debian packages libhvcore needs, only those that are missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail
pkgs=(cmake make gcc clang libclang-rt-14-dev libcmocka-dev libzydis-dev libreadline-dev libjansson-dev libssl-dev pkg-config valgrind binutils gnu-efi python3 doxygen lintian mmdebstrap "$@")
pkgs+=(gcc-mingw-w64-x86-64 python3-pefile wine64 curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian has no mingw-w64 Zydis or jansson: static ones for hvctl.exe from Debian's source tarballs
# (/var/cache/hvcore-mingw). Without network hvctl.exe keeps refusing custom code and --json.
$SUDO "$(dirname "$0")/mingw-deps.sh" || echo "deps: hvctl.exe will refuse custom code and --json (see above)"
