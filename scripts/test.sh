#!/usr/bin/env bash
# The whole test suite. Installs what it needs (Debian packages) first.
#   1. unit tests (cmocka, ctest) on a normal build, and the API reference (Doxygen)
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer, and under ThreadSanitizer
#   3. the core compiled with kernel flags; its objects may reference no libc
#   4. install to a prefix and build/run examples/consumer as an outside project
#   5. libFuzzer: the exit dispatcher, a bounded number of runs
#   6. benchmarks (callgrind instruction counts; printed, never asserted)
#   7. hvcore.sys and hvctl.exe (mingw-w64): the PE image checks, the driver and hvctl.exe under Wine
#   8. end to end: hvcore.ko on Debian's kernel in Bochs (emulated VT-x), 2 CPUs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
"$root/scripts/deps.sh"

section() { printf '\n===== %s =====\n' "$*"; }

section "unit tests"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$jobs"
ctest --test-dir "$root/build" -L 'unit|integration' --output-on-failure -j"$jobs"

section "API reference (Doxygen over the public headers; warnings and missing contracts are errors)"
cmake --build "$root/build" --target docs

section "unit tests under ASan + UBSan"
cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
      -DHVCORE_SANITIZE=address,undefined >/dev/null
cmake --build "$root/build-asan" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" -L unit --output-on-failure -j"$jobs"

section "unit tests under ThreadSanitizer (threads as cores)"
cmake -S "$root" -B "$root/build-tsan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
      -DHVCORE_SANITIZE=thread -DHVCORE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$root/build-tsan" -j"$jobs"
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$root/build-tsan" -L unit --output-on-failure -j"$jobs"

section "hvcore.sys and hvctl.exe under Wine (platform/windows: the driver loads, refuses to virtualize without VMXON, answers, unloads; hvctl.exe runs the demo on sim: and over TCP as the Linux hvctl does)"
ctest --test-dir "$root/build" -L windows --output-on-failure

section "the real x86-64 backend in an emulation harness (privileged instructions trapped and checked)"
"$root/libhvcore/arch/x86_64/selftest/run.sh" "$root/build/arch-selftest"

section "freestanding core (-ffreestanding -fno-builtin -mno-red-zone -mcmodel=kernel)"
cmake -S "$root" -B "$root/build-kernel-flags" -DHVCORE_KERNEL_FLAGS=ON -DHVCORE_BUILD_TESTS=OFF \
      -DHVCORE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$root/build-kernel-flags" -j"$jobs"

section "installed package consumed by an outside project (examples/consumer)"
rm -rf "$root/build/prefix" "$root/build-consumer"
cmake --install "$root/build" --prefix "$root/build/prefix" >/dev/null
PKG_CONFIG_PATH="$root/build/prefix/lib/pkgconfig" pkg-config --cflags --libs hvcore-testing
cmake -S "$root/examples/consumer" -B "$root/build-consumer" -DCMAKE_PREFIX_PATH="$root/build/prefix" >/dev/null
cmake --build "$root/build-consumer" -j"$jobs"
ctest --test-dir "$root/build-consumer" --output-on-failure

section "fuzzing: exit dispatcher, command parser, wire decoder, link decoder, debugger answer decoder, code validator, script compiler and interpreter (libFuzzer, bounded runs)"
cmake -S "$root" -B "$root/build-fuzz" -DHVCORE_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DHVCORE_BUILD_EXAMPLES=OFF >/dev/null
fuzzers="fuzz_dispatch fuzz_cmd_parse fuzz_wire fuzz_link fuzz_dbgclient fuzz_code_check fuzz_script_compile fuzz_script_vm"
cmake --build "$root/build-fuzz" -j"$jobs" --target $fuzzers
for f in $fuzzers; do
  corpus=$(mktemp -d)
  runs=200000   # a cap of 90 s per fuzzer keeps the section bounded on a slow or loaded machine
  flags=() seeds=()
  # The script fuzzers are slower per input (each accepted program runs): fewer runs keep them near 15 s.
  case $f in fuzz_script_*) runs=120000 ;; esac
  # Each input goes through real sockets (socketpair, recv/send): ~3.7 ms of CPU per input.
  case $f in fuzz_wire) runs=20000 ;; esac
  [ -f "$root/test/fuzz/$f.dict" ] && flags+=("-dict=$root/test/fuzz/$f.dict")
  [ -d "$root/test/fuzz/corpus/$f" ] && seeds+=("$root/test/fuzz/corpus/$f")   # read-only: new inputs go to the first directory
  echo "-- $f"
  "$root/build-fuzz/test/fuzz/$f" -runs=$runs -max_total_time=90 -seed=1 -max_len=4200 "${flags[@]}" "$corpus" "${seeds[@]}" </dev/null 2>&1 | tail -2
  rm -rf "$corpus"
done

section "benchmarks (callgrind)"
"$root/test/bench/run.sh" "$root/build"

section "end to end: the Linux module on an emulated VT-x CPU (Bochs, ${HVCORE_E2E_CPUS:-2} CPUs)"
"$root/test/e2e/setup.sh"
cmake -S "$root" -B "$root/build" -DHVCORE_E2E=ON -DHVCORE_E2E_CPUS="${HVCORE_E2E_CPUS:-2}" >/dev/null
ctest --test-dir "$root/build" -L e2e --output-on-failure
# The guest benchmark's figures (test/e2e/guest/hvbench.c; e2e.linux_module
# fails when one is missing, never on a value).
cat "$root/build/test/e2e-linux/bench.txt" 2>/dev/null || true
# Debugger Mode round trips (e2e.debugger: one request over the emulated serial line and over TCP).
cat "$root/build/test/e2e-debugger/bench.txt" 2>/dev/null || true
