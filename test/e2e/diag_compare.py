#!/usr/bin/env python3
"""Compare hvcore's VM-entry diagnosis with Bochs's own VM-entry checks.

usage: diag_compare.py SERIAL_LOG BOCHS_LOG [--report FILE]

The guest body (diag_body.sh) prints "DIAG <i> <corruption> first=<check>
all=<checks>" per corruption and, before each, reads MSR 0x13370000 + 8*i,
which Bochs logs as "RDMSR: Unknown register 0x...": that cuts bochs.log
into one segment per corruption. In each segment the first "VMFAIL:" or
"VMENTER FAIL:" line is Bochs's verdict, mapped below to the checks it
corresponds to. A corruption agrees when our findings contain one of them.
Exit 1 on any disagreement, a corruption Bochs accepted, a missing result,
or fewer than 30 comparisons.
"""
import re
import sys

# Bochs message (regex) -> our check names (vmcs_diagnose.h).
SEG = {"FS": "guest.fs-base", "GS": "guest.gs-base", "TR": "guest.tr-base", "LDTR": "guest.ldtr-base"}
MAP = [
    (r"pin-based controls allowed 0", ["ctl.pin.allowed0"]),
    (r"pin-based controls allowed 1", ["ctl.pin.allowed1"]),
    (r"proc-based controls allowed 0", ["ctl.proc.allowed0"]),
    (r"proc-based controls allowed 1", ["ctl.proc.allowed1"]),
    (r"secondary controls allowed 1", ["ctl.proc2.allowed1"]),
    (r"vmexit controls allowed 0", ["ctl.exit.allowed0"]),
    (r"vmexit controls allowed 1", ["ctl.exit.allowed1"]),
    (r"vmentry controls allowed 0", ["ctl.entry.allowed0"]),
    (r"vmentry controls allowed 1", ["ctl.entry.allowed1"]),
    (r"too may CR3 targets", ["ctl.cr3-target-count"]),
    (r"I/O bitmap A phy addr", ["ctl.io-bitmap-a"]),
    (r"I/O bitmap B phy addr", ["ctl.io-bitmap-b"]),
    (r"MSR bitmap phy addr", ["ctl.msr-bitmap"]),
    (r"misconfigured virtual NMI", ["ctl.virtual-nmis", "ctl.nmi-window"]),
    (r"virtual apic phy addr", ["ctl.virtual-apic-page"]),
    (r"apic access page phy addr", ["ctl.apic-access-addr"]),
    (r"invalid EPTPTR", ["ctl.eptp-memtype", "ctl.eptp-walk-length", "ctl.eptp-ad", "ctl.eptp-reserved"]),
    (r"unrestricted guest without EPT", ["ctl.unrestricted-needs-ept"]),
    (r"guest VPID == 0", ["ctl.vpid-zero"]),
    (r"save_VMX_preemption_timer", ["ctl.exit.save-timer"]),
    (r"VMEXIT CTRL: msr store addr", ["ctl.exit.msr-store-addr"]),
    (r"VMEXIT CTRL: msr load addr", ["ctl.exit.msr-load-addr"]),
    (r"VMENTRY CTRL: msr load addr", ["ctl.entry.msr-load-addr"]),
    (r"bad injected event type", ["ctl.entry.intr-type"]),
    (r"bad injected event vector", ["ctl.entry.intr-nmi-vector", "ctl.entry.intr-hw-vector"]),
    (r"bad MTF injection", ["ctl.entry.intr-other-vector"]),
    (r"broken error code", ["ctl.entry.intr-deliver-code"]),
    (r"bad error code", ["ctl.entry.error-code"]),
    (r"broken interruption info", ["ctl.entry.intr-reserved"]),
    (r"injected event instr length", ["ctl.entry.instr-len"]),
    (r"x86-64 host control invalid", ["addr.host64-required", "addr.cpu-not-ia32e"]),
    (r"x86-64 guest\(.*\)/host\(.*\) controls", ["addr.ia32e-guest-host32"]),
    (r"host state invalid CR0", ["host.cr0"]),
    (r"host state invalid CR3", ["host.cr3"]),
    (r"host state invalid CR4", ["host.cr4"]),
    (r"host segreg \d+ TI/RPL", ["host.selector-ti-rpl"]),
    (r"host CS selector 0", ["host.cs-null"]),
    (r"host SS selector 0", ["host.ss-null"]),
    (r"invalid host TR selector", ["host.tr-null"]),
    (r"host TR BASE non canonical", ["host.tr-base"]),
    (r"host FS BASE non canonical", ["host.fs-base"]),
    (r"host GS BASE non canonical", ["host.gs-base"]),
    (r"host GDTR BASE non canonical", ["host.gdtr-base"]),
    (r"host IDTR BASE non canonical", ["host.idtr-base"]),
    (r"host SYSENTER_ESP_MSR", ["host.sysenter-esp"]),
    (r"host SYSENTER_EIP_MSR", ["host.sysenter-eip"]),
    (r"Memory Type in host MSR_PAT", ["host.pat"]),
    (r"host EFER reserved", ["host.efer-reserved"]),
    (r"host EFER .* inconsistent", ["host.efer-lma-lme"]),
    (r"host CR4.PAE=0", ["host.cr4-pae-64bit"]),
    (r"host RIP non-canonical", ["host.rip-canonical"]),
    (r"RFLAGS reserved bits", ["guest.rflags-reserved"]),
    (r"RFLAGS\[1\] cleared", ["guest.rflags-bit1"]),
    (r"RFLAGS\.VM", ["guest.rflags-vm"]),
    (r"guest invalid CR0", ["guest.cr0"]),
    (r"guest invalid CR3", ["guest.cr3"]),
    (r"guest invalid CR4", ["guest.cr4"]),
    (r"guest invalid DR7", ["guest.dr7"]),
    (r"incorrect LDTR type", ["guest.ldtr-type"]),
    (r"incorrect TR type", ["guest.tr-type"]),
    (r"guest TR\.TI set", ["guest.tr-ti"]),
    (r"guest LDTR\.TI set", ["guest.ldtr-ti"]),
    (r"GDTR/IDTR limit", ["guest.gdtr-limit", "guest.idtr-limit"]),
    (r"IDTR/IDTR\.BASE non canonical", ["guest.gdtr-base", "guest.idtr-base"]),
    (r"guest activity state", ["guest.activity"]),
    (r"interruptibility state broken", ["guest.intr-reserved", "guest.intr-sti-movss"]),
    (r"tmpDR6 reserved", ["guest.pending-dbg"]),
    (r"VMCS link pointer", ["guest.link-pointer", "guest.link-revision"]),
    (r"Memory Type in guest MSR_PAT", ["guest.pat"]),
    (r"guest EFER reserved", ["guest.efer-reserved"]),
    (r"guest SYSENTER_ESP_MSR", ["guest.sysenter-esp"]),
    (r"guest SYSENTER_EIP_MSR", ["guest.sysenter-eip"]),
    (r"wrong CS\.D_B/L", ["guest.cs-l-db"]),
    (r"guest CS\.TYPE", ["guest.cs-type"]),
    (r"guest SS\.TYPE", ["guest.ss-type"]),
    (r"guest (CS|SS|DS|ES|FS|GS) not present", ["guest.seg-p"]),
    (r"guest (CS|SS|DS|ES|FS|GS) not segment", ["guest.seg-s"]),
]


def bochs_checks(msg):
    m = re.search(r"guest (\w+)\.BASE non canonical", msg)
    if m and m.group(1) in SEG:
        return [SEG[m.group(1)]]
    for rx, checks in MAP:
        if re.search(rx, msg):
            return checks
    return []


def main():
    args = sys.argv[1:]
    report = None
    if "--report" in args:
        k = args.index("--report")
        report = args[k + 1]
        del args[k:k + 2]
    serial, bochs = args
    ours = {}
    order = []
    for line in open(serial, errors="replace"):
        m = re.match(r"DIAG (\d+) (\S+) first=(\S+) all=(.*)", line.strip())
        if m:
            i = int(m.group(1))
            ours[i] = (m.group(2), m.group(3), m.group(4).split())
            order.append(i)
    seg = {}
    cur = None
    for line in open(bochs, errors="replace"):
        m = re.search(r"RDMSR: Unknown register 0x([0-9a-fA-F]+)", line)
        if m:
            v = int(m.group(1), 16)
            if 0x13370000 <= v < 0x13380000 and (v - 0x13370000) % 8 == 0:
                cur = (v - 0x13370000) // 8
            continue
        m = re.search(r"(VMFAIL: .*|VMENTER FAIL: .*)$", line.rstrip())
        if m and cur is not None and cur not in seg:
            seg[cur] = m.group(1).strip()
    rows, bad = [], 0
    for i in order:
        name, first, allc = ours[i]
        said = seg.get(i, "(no VM-entry failure logged)")
        want = bochs_checks(said)
        ok = bool(set(want) & set(allc))
        bad += not ok
        rows.append((name, said, first, "yes" if ok else "NO"))
    w0 = max([len(r[0]) for r in rows] + [10])
    w1 = max([len(r[1]) for r in rows] + [10])
    out = ["| corruption | Bochs says | we say (first finding) | agree |", "|---|---|---|---|"]
    out += ["| %s | %s | %s | %s |" % r for r in rows]
    agree = len(rows) - bad
    out.append("")
    out.append("%d corruptions compared, %d agree, %d disagree" % (len(rows), agree, bad))
    text = "\n".join(out)
    print(text)
    if report:
        with open(report, "w") as f:
            f.write(text + "\n")
    if len(rows) < 30:
        print("diag: fewer than 30 corruptions compared", file=sys.stderr)
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
