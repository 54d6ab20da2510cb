#!/usr/bin/env bash
# End-to-end proof of the machine's life events with hvcore.ko loaded
# (LIFECYCLE.md): `reboot -f` with an event armed and debug-register exits
# firing devirtualizes every CPU and the machine comes back to the firmware;
# a kernel panic (sysrq c, panic=-1) resets it too. Judged by the serial log
# of both boots and by Bochs's log of the reset.
#
# usage: lifecycle.sh [--runs "MODE:CPUS ..."] [--timeout SECONDS] [--workdir DIR]
#                     [--no-setup] [--hvctl PATH]
#   --runs LIST  Bochs runs, each MODE:CPUS with MODE reboot or panic
#                (default "reboot:2 panic:2")
#   --timeout S  limit of each Bochs run, both boots (default 300)
#   --hvctl P    arm the event with the hvctl client (else with hvstress)
#
# The machine is reset from the last CPU (reboot=pci,s<N-1>; the panic is
# raised there too). With several CPUs, Bochs 2.7 (its debugger loop, which
# bochs-bin always runs) cannot boot again when CPU 0 itself resets the
# machine: the emulated clock stands still from the reset on (every later
# bochs.log line has the reset's tick), the BIOS's keyboard self-test times
# out ("Keyboard error:21") and Bochs stops. Measured: a reset from CPU 1
# boots again. (Likely cause: CPU 0's instruction count restarts at 0 while
# the loop waits for it to reach the old count plus a quantum.)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)

RUNS="reboot:2 panic:2" TIMEOUT=300 WORK='' SETUP=1 HVCTL=''
while (($#)); do
    case $1 in
    --runs) RUNS=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --workdir) WORK=${2:?}; shift 2 ;;
    --no-setup) SETUP=0; shift ;;
    --hvctl) HVCTL=${2:?}; shift 2 ;;
    *) echo "lifecycle.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
for r in $RUNS; do
    [[ $r =~ ^(reboot|panic):[1-9][0-9]?$ ]] || e2e_die "--runs: '$r' is not reboot:N or panic:N"
done
((SETUP)) && "$E2E_DIR/setup.sh"
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/hvcore-life.XXXXXX")}
mkdir -p "$WORK/extra/hv"
KVER=$(e2e_kver)
KMODS=$E2E_CACHE/$KVER/image/lib/modules/$KVER/kernel

e2e_log "building hvcore.ko for $KVER"
make -s -C "$ROOT/platform/linux" KDIR="$(e2e_headers_dir "$KVER")" OUT="$WORK/kmod" >"$WORK/kmod.log" 2>&1 ||
    { tail -n 40 "$WORK/kmod.log" >&2; e2e_die "module build failed"; }
cp "$WORK/kmod/hvcore.ko" "$WORK/extra/hv/"
# /dev/nvram: a CMOS byte that survives the reset tells the second boot
# from the first.
cp "$KMODS/drivers/char/nvram.ko" "$WORK/extra/hv/" || e2e_die "nvram.ko not found in the kernel package"
"$E2E_DIR/build-static.sh" -o "$WORK/extra/hv/hvstress" -I"$ROOT/libhvcore/include" \
    "$E2E_DIR/guest/hvstress.c" >/dev/null
if [[ -n $HVCTL ]]; then
    # hvctl is dynamic: ship it with the libraries it loads (as hv.sh does).
    cp "$HVCTL" "$WORK/extra/hv/hvctl"
    for lib in $(ldd "$HVCTL" | grep -o '/[^ ]*'); do
        mkdir -p "$WORK/extra$(dirname "$lib")"
        cp -L "$lib" "$WORK/extra$lib"
    done
fi

BANNER='pvhload: multiboot PVH loader'
BAD_RE='(^|[^[:alnum:]_])BUG:|kernel BUG at|(^|[^[:alnum:]_])Oops([^[:alnum:]_]|$)|WARNING:|general protection fault'
fails=0
verdict() { # PASS|FAIL name detail
    echo "LIFECYCLE $1 $2: $3"
    [[ $1 != FAIL ]] || fails=$((fails + 1))
}
# first line number matching an extended regex, or nothing
line_of() { grep -n -a -m1 -E "$2" "$1" | cut -d: -f1 || true; }

run_one() { # MODE CPUS
    local mode=$1 cpus=$2 name=$1-$2cpu
    local dir=$WORK/$name log=$WORK/$name/serial.log bx=$WORK/$name/boot/bochs.log
    local rc t0 t1 fails0=$fails
    mkdir -p "$dir"
    echo "$mode" >"$WORK/extra/hv/lifecycle-mode"
    t0=$(date +%s)
    set +e
    # reboot=pci: the kernel writes 0x02 then 0x0E to the reset control
    # register (port 0xCF9), a hardware reset for Bochs's PIIX3. Not the
    # harness's reboot=t: a triple fault makes Bochs exit (the bochsrc has
    # reset_on_triple_fault=0, so that any stray triple fault ends a run).
    # Not reboot=k: the keyboard controller's pulse is a software reset in
    # Bochs, which keeps IA32_FEATURE_CONTROL locked; the Bochs BIOS writes
    # that MSR unconditionally, takes #GP with no IDT and triple-faults.
    # The later reboot= on the command line wins.
    # s<N>: the kernel restarts from the last CPU, not CPU 0 (see the top).
    "$E2E_DIR/boot.sh" --cpus "$cpus" --timeout "$TIMEOUT" --workdir "$dir/boot" \
        --initramfs-dir "$WORK/extra" --init "$E2E_DIR/lifecycle_body.sh" --log "$log" \
        --cmdline-extra "reboot=pci,s$((cpus - 1))" >"$dir/boot.out" 2>&1
    rc=$?
    set -e
    t1=$(date +%s)
    mkdir -p "$dir/boot"; touch "$log" "$bx"
    echo "== $name: $mode with $cpus CPU(s): boot.sh exit $rc (judged here, not by boot.sh), $((t1 - t0)) s wall"
    grep -E '^== (wall time|bochs exit)' "$dir/boot.out" | sed 's/^/   /' || true

    # Split the serial log at the second loader banner.
    local second first_end b1=$dir/boot1.log b2=$dir/boot2.log
    second=$(grep -a -n -F "$BANNER" "$log" | sed -n 2p | cut -d: -f1 || true)
    first_end=$((${second:-0} > 0 ? second : $(wc -l <"$log") + 1))
    head -n "$((first_end - 1))" "$log" | tr -d '\r' >"$b1"
    tail -n "+$first_end" "$log" | tr -d '\r' >"$b2"

    echo "== $name: first boot, from the test's last line on"
    local from
    from=$(line_of "$b1" '^LIFECYCLE: (reboot -f|panic) now')
    sed -n "${from:-1},\$p" "$b1" | grep -a -v '^$' | tail -n 40 | sed 's/^/   | /' || true
    echo "== $name: Bochs's log from the reset on"
    local l_cf9
    l_cf9=$(line_of "$bx" 'write: CPU reset register = 0x0e')
    if [[ -n $l_cf9 ]]; then
        sed -n "$l_cf9,\$p" "$bx" | grep -a -E 'CPU reset register|Reset\(|cpu hardware reset|\[BIOS  \]|>>PANIC<<' |
            head -n 12 | sed 's/^/   | /' || true
    fi
    echo "== $name: second boot"
    grep -a -E "$BANNER|^LIFECYCLE|^E2E-(BEGIN|END)" "$b2" | sed 's/^/   | /' || echo "   (none)"

    # ---- the first boot: loaded, armed, traffic ------------------------------------
    local armed
    armed=$(grep -a -m1 '^LIFECYCLE: armed' "$b1" || true)
    [[ -n $armed ]] && verdict PASS "$name-armed" "${armed#LIFECYCLE: }" ||
        verdict FAIL "$name-armed" "the first boot did not load the module and arm the event"

    # ---- the event that took the machine down ---------------------------------------
    local nbad
    nbad=$(grep -a -c -E "$BAD_RE" "$log" || true)
    if [[ $mode == reboot ]]; then
        local l_go l_first l_all l_restart ok=1 c l seen=""
        l_go=$(line_of "$b1" '^LIFECYCLE: reboot -f now \(the kernel restarts from cpu')
        l_first=$(line_of "$b1" 'hvcore: reboot: devirtualizing every CPU first')
        l_all=$(line_of "$b1" "hvcore: reboot: all $cpus CPUs devirtualized")
        l_restart=$(line_of "$b1" 'reboot: Restarting system')
        for v in l_go l_first l_all l_restart; do [[ -n ${!v} ]] || ok=0; done
        if ((ok)); then
            ((l_go < l_first && l_first < l_all && l_all < l_restart)) || ok=0
            for ((c = 0; c < cpus; c++)); do
                l=$(line_of "$b1" "hvcore: cpu $c: devirtualized\$")
                if [[ -n $l ]] && ((l > l_first && l < l_all)); then seen+=" $c"; else ok=0; fi
            done
        fi
        ((ok && nbad == 0 && $(grep -a -c 'Kernel panic' "$log" || true) == 0)) &&
            verdict PASS "$name-devirtualized" "after 'reboot -f': 'devirtualizing every CPU first', 'cpu N: devirtualized' for CPU(s)${seen}, 'all $cpus CPUs devirtualized', then 'reboot: Restarting system', in that order; no panic, BUG, Oops or WARNING" ||
            verdict FAIL "$name-devirtualized" "missing, out of order or with trouble: go=${l_go:-none} first=${l_first:-none} all=${l_all:-none} restart=${l_restart:-none} cpus=[${seen} ], $nbad BUG/Oops/WARNING line(s)"
    else
        local l_go l_panic npanic
        l_go=$(line_of "$b1" '^LIFECYCLE: panic now \(sysrq c on cpu')
        l_panic=$(line_of "$b1" 'Kernel panic - not syncing: sysrq triggered crash')
        npanic=$(grep -a -c 'Kernel panic' "$log" || true)
        [[ -n $l_go && -n $l_panic ]] && ((l_go < l_panic && npanic == 1 && nbad == 0)) &&
            verdict PASS "$name-panicked" "the first boot panicked once with hvcore loaded ('$(sed -n "${l_panic}p" "$b1" | sed 's/^\[[^]]*\] //')'); no BUG, Oops or WARNING" ||
            verdict FAIL "$name-panicked" "go=${l_go:-none} panic=${l_panic:-none}, $npanic 'Kernel panic' line(s), $nbad BUG/Oops/WARNING line(s)"
    fi

    # ---- back to the firmware: Bochs reset the machine and the BIOS ran again ---------
    local nreset ncpureset nbios
    nreset=$(grep -a -c 'bx_pc_system_c::Reset(HARDWARE) called' "$bx" || true)
    ncpureset=$(grep -a -c 'cpu hardware reset' "$bx" || true)
    nbios=$(grep -a -c '\[BIOS  \] \$Revision' "$bx" || true)
    ((${l_cf9:-0} > 0 && nreset == 2 && ncpureset == 2 * cpus && nbios >= 2)) &&
        verdict PASS "$name-firmware" "the kernel wrote 0x0E to port 0xCF9; Bochs: a second hardware reset of the machine and of each of the $cpus CPU(s), and the BIOS started again" ||
        verdict FAIL "$name-firmware" "Bochs log: CF9 write at line ${l_cf9:-none}, $nreset hardware reset(s) (want 2), $ncpureset CPU reset(s) (want $((2 * cpus))), $nbios BIOS banner(s) (want 2)"

    # ---- the second boot ---------------------------------------------------------------
    local banners end stall
    banners=$(grep -a -c -F "$BANNER" "$log" || true)
    end=$(grep -a -m1 '^E2E-END rc=' "$b2" || true)
    stall=$(grep -a -m1 '>>PANIC<< Keyboard error' "$bx" || true)
    if [[ $banners == 2 && $end == 'E2E-END rc=0'* ]] && grep -a -q '^E2E PASS lifecycle-second-boot' "$b2" &&
        { [[ $mode == panic ]] || ((rc == 0)); }; then
        verdict PASS "$name-second-boot" "the loader and the kernel came up again, the body saw the CMOS mark and no hypervisor, '$end'"
    else
        verdict FAIL "$name-second-boot" "$banners loader banner(s) (want 2), second boot's end line '${end:-none}', boot.sh exit $rc${stall:+; Bochs stopped in the BIOS ('${stall#*>>PANIC<< }'): did CPU 0 reset the machine? (see the top of lifecycle.sh)}"
    fi
    if ((fails > fails0)); then
        echo "---- $name: boot.sh's output ----"
        tail -n 150 "$dir/boot.out"
        echo "---- $name: last 80 lines of the serial log ($log) ----"
        tail -n 80 "$log" | tr -d '\r'
        echo "---- $name: last 30 lines of the Bochs log ----"
        tail -n 30 "$bx" 2>/dev/null || true
    fi
}

T0=$(date +%s)
for r in $RUNS; do
    run_one "${r%:*}" "${r#*:}"
done
if ((fails == 0)); then
    echo "lifecycle: all checks passed ($RUNS; $(($(date +%s) - T0)) s)"
else
    echo "lifecycle: $fails check(s) failed ($RUNS; $(($(date +%s) - T0)) s)"
fi
((fails == 0))
