#!/usr/bin/env bash
# The main demo: build libhvcore and bring up a hypervisor on fake VT-x cores.
# Usage: scripts/demo.sh [--cpus N] [--profile NAME]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target hvcore-demo >/dev/null
exec "$root/build/examples/hvcore-demo" "$@"
