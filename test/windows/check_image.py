#!/usr/bin/python3
# Check hvcore.sys as Windows will: PE32+ (x64), subsystem native, the
# DllCharacteristics a driver needs (WDM_DRIVER, NX_COMPAT, DYNAMIC_BASE),
# a valid checksum, a relocation directory, no section both writable and
# executable, and imports from ntoskrnl.exe and HAL.dll only (no CRT).
# Prints every import. Needs Debian's python3-pefile.
# Usage: check_image.py hvcore.sys
import sys
import pefile

ALLOWED_DLLS = {"ntoskrnl.exe", "hal.dll"}
C = pefile.DLL_CHARACTERISTICS
S = pefile.SECTION_CHARACTERISTICS


def main(path):
    pe = pefile.PE(path)
    oh = pe.OPTIONAL_HEADER
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    check(oh.Magic == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS, "PE32+ (magic 0x%x)" % oh.Magic)
    check(pe.FILE_HEADER.Machine == pefile.MACHINE_TYPE["IMAGE_FILE_MACHINE_AMD64"],
          "machine AMD64 (0x%x)" % pe.FILE_HEADER.Machine)
    check(oh.Subsystem == pefile.SUBSYSTEM_TYPE["IMAGE_SUBSYSTEM_NATIVE"], "subsystem native (%d)" % oh.Subsystem)
    for flag in ("IMAGE_DLLCHARACTERISTICS_WDM_DRIVER", "IMAGE_DLLCHARACTERISTICS_NX_COMPAT",
                 "IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE"):
        check(bool(oh.DllCharacteristics & C[flag]), "%s (DllCharacteristics 0x%04x)" % (flag.replace("IMAGE_DLLCHARACTERISTICS_", ""), oh.DllCharacteristics))
    check(oh.CheckSum != 0 and pe.verify_checksum(),
          "checksum 0x%08x valid (computed 0x%08x)" % (oh.CheckSum, pe.generate_checksum()))
    reloc = oh.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_BASERELOC"]]
    check(reloc.VirtualAddress != 0 and reloc.Size != 0,
          "relocation directory (RVA 0x%x, %d bytes)" % (reloc.VirtualAddress, reloc.Size))
    for s in pe.sections:
        name = s.Name.rstrip(b"\0").decode(errors="replace")
        w = bool(s.Characteristics & S["IMAGE_SCN_MEM_WRITE"])
        x = bool(s.Characteristics & S["IMAGE_SCN_MEM_EXECUTE"])
        check(not (w and x), "section %-8s %s%s%s not W+X" % (name, "R", "W" if w else "-", "X" if x else "-"))
    imports = getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
    check(len(imports) > 0, "has an import directory")
    for dll in imports:
        name = dll.dll.decode()
        check(name.lower() in ALLOWED_DLLS, "imports from %s only from ntoskrnl.exe/HAL.dll" % name)
        for imp in dll.imports:
            print("     import %s!%s" % (name, imp.name.decode() if imp.name else "#%d" % imp.ordinal))
    if failures:
        print("%s: %d check(s) failed" % (path, len(failures)))
        return 1
    print("%s: every check passed" % path)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_image.py IMAGE")
    sys.exit(main(sys.argv[1]))
