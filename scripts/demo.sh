#!/usr/bin/env bash
# The main demo: boot Debian's kernel on Bochs's emulated VT-x CPU, load the
# hypervisor, look at it from inside the guest, unload it. ~30 s per run once
# the kernel is cached (the first run downloads it: add ~10 s).
#   scripts/demo.sh [--cpus N]        the real thing (default 2 CPUs)
#   scripts/demo.sh --mock [...]      the same story on fake CPUs (mock backend)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
if [[ ${1:-} == --mock ]]; then
  shift
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" -j"$(nproc)" --target hvcore-demo >/dev/null
  exec "$root/build/examples/hvcore-demo" "$@"
fi
cpus=2
[[ ${1:-} == --cpus ]] && cpus=${2:?--cpus needs a number}
exec "$root/test/e2e/hv.sh" --demo --cpus "$cpus"
