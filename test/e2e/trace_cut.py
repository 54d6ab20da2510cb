#!/usr/bin/python3
"""Keep the first records of a trace file (docs/trace-format.md) up to a size.

    test/e2e/trace_cut.py IN OUT MAX_BYTES

Used to make test/data/bochs-exits.hvtrace from the trace e2e.linux_module
records in the Bochs guest (hv.sh leaves it in its workdir as exits.hvtrace).
The header's exit count is rewritten; everything else is copied byte for byte.
"""
import struct
import sys

HDR = 80


def main():
    src, dst, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(src, "rb").read()
    if data[:8] != b"HVTRACE\0" or struct.unpack_from("<H", data, 8)[0] != 1:
        sys.exit("%s: not a version-1 trace file" % src)
    hsize = struct.unpack_from("<H", data, 10)[0]
    exits = struct.unpack_from("<Q", data, 40)[0]
    off, kept, reasons = hsize, 0, {}
    while kept < exits:
        size = struct.unpack_from("<I", data, off)[0]
        if off + size > limit:
            break
        reason = struct.unpack_from("<I", data, off + 16)[0] & 0xFFFF
        reasons[reason] = reasons.get(reason, 0) + 1
        off += size
        kept += 1
    out = bytearray(data[:off])
    struct.pack_into("<Q", out, 40, kept)
    open(dst, "wb").write(out)
    print("%s: %d of %d exits, %d bytes; by basic reason: %s" %
          (dst, kept, exits, off, ", ".join("%d: %d" % kv for kv in sorted(reasons.items()))))


if __name__ == "__main__":
    main()
