#!/usr/bin/env bash
# Run the benchmarks and print "BENCH <name> <value> <unit>" lines.
# Instruction counts come from callgrind (repeatable on noisy machines);
# nothing here is asserted: the figures are for people and the changelog.
#   test/bench/run.sh <build-dir>
set -euo pipefail
build=${1:?usage: run.sh <build-dir>}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# callgrind_inclusive <out-file> <function-regex>: summed inclusive Ir of
# the matching functions in the per-function summary.
callgrind_inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v re="$2" '$0 ~ "^ *[0-9,]+ +\\([ 0-9.]+%\\) +[^ ]+:(" re ") \\[" { gsub(",", "", $1); s += $1 } END { print s + 0 }'
}
callgrind_total() {
  callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

# ---- exit path: one CPUID exit, dispatcher entry to return --------------
n=100000
valgrind --tool=callgrind --toggle-collect=hv_exit_dispatch --callgrind-out-file="$tmp/exit.cg" \
  "$build/test/bench/bench_exit_path" "$n" > "$tmp/exit.txt" 2> "$tmp/exit.log"
total=$(callgrind_total "$tmp/exit.cg")
# The backend is hardware in production (one VMREAD/VMWRITE/CPUID each);
# on the mock it is a checked in-memory VMCS. Report the core's own count
# and, separately, the count with the mock backend included.
backend=$(callgrind_inclusive "$tmp/exit.cg" 'hv_vmcs_backend_read|hv_vmcs_backend_write|hv_arch_[a-z_]+')
awk -v t="$total" -v b="$backend" -v n="$n" 'BEGIN {
  printf "BENCH cpuid_exit_instructions %.1f instr\n", (t - b) / n
  printf "BENCH cpuid_exit_instructions_with_mock_backend %.1f instr\n", t / n }'
cat "$tmp/exit.txt"

# ---- MSR broadcast: one wrmsr on all 8 cores of the mock ------------------
n=2000
valgrind --tool=callgrind --toggle-collect=hv_msr_write --callgrind-out-file="$tmp/msr.cg" \
  "$build/test/bench/bench_msr_broadcast" "$n" > "$tmp/msr.txt" 2> "$tmp/msr.log"
total=$(callgrind_total "$tmp/msr.cg")
awk -v t="$total" -v n="$n" 'BEGIN {
  printf "BENCH msr_write_all_cores_instructions %.0f instr\n", t / n
  printf "BENCH msr_write_per_core_instructions %.0f instr\n", t / n / 8 }'

# ---- message ring: one record through hv_msg_put (imm no, 40-byte payload) -
n=100000
valgrind --tool=callgrind --toggle-collect=hv_msg_put --callgrind-out-file="$tmp/msg.cg" \
  "$build/test/bench/bench_msg_ring" "$n" > "$tmp/msg.txt" 2> "$tmp/msg.log"
total=$(callgrind_total "$tmp/msg.cg")
awk -v t="$total" -v n="$n" 'BEGIN { printf "BENCH msg_ring_instructions_per_record %.1f instr\n", t / n }'
cat "$tmp/msg.txt"

# ---- DR-access events: 1 event vs 10,000 non-matching + 1 -----------------
n=20000
for events in 1 10000; do
  valgrind --tool=callgrind --toggle-collect=hv_exit_dispatch --callgrind-out-file="$tmp/dr$events.cg" \
    "$build/test/bench/bench_dr_events" "$events" "$n" > "$tmp/dr.txt" 2> "$tmp/dr.log"
done
t1=$(callgrind_total "$tmp/dr1.cg")
t2=$(callgrind_total "$tmp/dr10000.cg")
awk -v a="$t1" -v b="$t2" -v n="$n" 'BEGIN {
  printf "BENCH dr_exit_instructions_1_event %.1f instr\n", a / n
  printf "BENCH dr_exit_instructions_10000_events %.1f instr\n", b / n
  printf "BENCH dr_exit_10000_vs_1_event %.2f %%\n", (b - a) * 100 / a }'

# ---- script action: one DR exit whose event runs a script (vs none, break) -
# printf of $pid, $core and @rax; the same with a dq() read through the
# guest's page tables. The action's own cost is the difference to `none`.
n=20000
for kind in none break printf dq; do
  valgrind --tool=callgrind --toggle-collect=hv_exit_dispatch --callgrind-out-file="$tmp/sa_$kind.cg" \
    "$build/test/bench/bench_script_action" "$kind" "$n" > "$tmp/sa_$kind.txt" 2> "$tmp/sa_$kind.log"
done
awk -v none="$(callgrind_total "$tmp/sa_none.cg")" -v brk="$(callgrind_total "$tmp/sa_break.cg")" \
    -v pf="$(callgrind_total "$tmp/sa_printf.cg")" -v dq="$(callgrind_total "$tmp/sa_dq.cg")" -v n="$n" 'BEGIN {
  printf "BENCH script_action_instructions %.1f instr\n", pf / n
  printf "BENCH script_action_dq_instructions %.1f instr\n", dq / n
  printf "BENCH script_action_overhead_instructions %.1f instr\n", (pf - none) / n
  printf "BENCH script_action_dq_overhead_instructions %.1f instr\n", (dq - none) / n
  printf "BENCH dr_exit_no_action_instructions %.1f instr\n", none / n
  printf "BENCH break_action_overhead_instructions %.1f instr\n", (brk - none) / n }'
cat "$tmp/sa_dq.txt"

# ---- one request over loopback TCP with the key handshake (wall clock) ------
# Kernel and scheduler time dominate, so no callgrind: a mean of 2000
# round trips, printed only (noisy on a shared machine).
"$build/test/bench/bench_wire_tcp" 2000
"$build/test/bench/bench_dbg_rtt" 500
