#!/usr/bin/env python3
"""Check the API reference's contract over Doxygen's XML output:
every public function (and function-like macro accessor) of
libhvcore/include/hvcore/*.h says its calling context ("Context:"), and
every function returning hv_status_t says its statuses (SUCCESS or the
statuses it shares with another function). Exit status 1 with one line per
miss.

usage: check_contract.py XML_DIR
"""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

xml_dir = Path(sys.argv[1])
misses = []
functions = 0
for f in sorted(xml_dir.glob("*_8h.xml")):
    root = ET.parse(f).getroot()
    for m in root.iter("memberdef"):
        if m.get("kind") != "function":
            continue
        loc = m.find("location")
        where = f"{loc.get('file')}:{loc.get('line')}" if loc is not None else f.name
        name = m.findtext("name")
        ret = "".join(m.find("type").itertext()) if m.find("type") is not None else ""
        text = " ".join("".join(m.find(t).itertext()) for t in ("briefdescription", "detaileddescription")
                        if m.find(t) is not None)
        text = re.sub(r"\s+", " ", text)
        functions += 1
        if not re.search(r"\bContext:", text, re.I):
            misses.append(f"{where}: {name}: no calling context (\"Context: PRE-LAUNCH|ROOT-SAFE|any ...\")")
        if "hv_status_t" in ret and not re.search(r"SUCCESS|[Ss]tatus(es)? as |@return|as hv_\w+", text):
            misses.append(f"{where}: {name}: returns hv_status_t but names no status")
for line in misses:
    print(line)
print(f"check_contract: {functions} functions, {len(misses)} without the contract", file=sys.stderr)
sys.exit(1 if misses or functions == 0 else 0)
