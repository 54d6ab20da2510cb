#!/usr/bin/env bash
# The main demo: an hvctl session against a simulated 4-core machine (the
# real core on fake VT-x CPUs): MSRs on one core and on all, an invalid MSR,
# !dr events firing with imm yes and imm no. Runs anywhere, in seconds.
#   scripts/demo.sh                the hvctl session (examples/hvctl/demo.hvctl)
#   scripts/demo.sh --emulated [--cpus N]
#                                  Debian's kernel on Bochs's emulated VT-x CPU,
#                                  hvcore.ko loaded and unloaded (~30 s)
#   scripts/demo.sh --mock [...]   bring-up on fake CPUs, step by step
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
build() {
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" -j"$(nproc)" --target "$@" >/dev/null
}
case ${1:-} in
--emulated)
  shift
  cpus=2
  [[ ${1:-} == --cpus ]] && cpus=${2:?--cpus needs a number}
  exec "$root/test/e2e/hv.sh" --demo --cpus "$cpus" ;;
--mock)
  shift
  build hvcore-demo
  exec "$root/build/examples/hvcore-demo" "$@" ;;
*)
  build hvctl
  exec "$root/build/examples/hvctl" --target sim:cores=4 -f "$root/examples/hvctl/demo.hvctl" ;;
esac
