#!/usr/bin/python3
# Write the PE optional header's CheckSum (the algorithm of ImageHlp's
# CheckSumMappedFile, as pefile implements it) into an image in place.
# mingw-w64's ld has no /RELEASE switch, and a driver's checksum must be
# right. Usage: pe_checksum.py IMAGE
import sys
import pefile

path = sys.argv[1]
pe = pefile.PE(path)
pe.OPTIONAL_HEADER.CheckSum = pe.generate_checksum()
data = pe.write()
pe.close()
with open(path, "wb") as f:
    f.write(data)
check = pefile.PE(path)
if not check.verify_checksum():
    sys.exit(f"{path}: checksum still wrong after writing it")
print(f"{path}: PE checksum 0x{check.OPTIONAL_HEADER.CheckSum:08x}")
