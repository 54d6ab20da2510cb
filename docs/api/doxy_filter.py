#!/usr/bin/env python3
"""Doxygen INPUT_FILTER for libhvcore's public headers.

The headers keep the project's plain C comment style; this filter presents
those comments to Doxygen (docs/api/README.md):
  - the first block comment after the SPDX line documents the file (@file);
  - a comment on its own line(s) documents what follows it (/* -> /**);
  - a comment after code on the same line documents that code (/**<);
  - a comment (or a section ruler "/* ---- Title ----") followed directly by
    #define lines documents each of them that has no comment of its own,
    up to the next blank line;
  - a line declaring several members (`uint64_t a, b; /* doc */`) becomes
    one declaration per member on the same line, each with that doc;
  - "#GP"-style exception names are escaped (not Doxygen links).
Lines are never added or removed, so Doxygen's warnings point at the real
lines of the header.
"""
import re
import sys

src = open(sys.argv[1], encoding="utf-8").read().split("\n")
out = list(src)
n = len(src)

MULTI = re.compile(r"^(\s*)((?:const\s+|volatile\s+|unsigned\s+|struct\s+|enum\s+)*\w+(?:\s*\*)*)\s+"
                   r"(\w+(?:\[[^\]]*\])?(?:\s*,\s*\w+(?:\[[^\]]*\])?)+)\s*;\s*(?:/\*\*?<?(.*)\*/)?\s*$")
TRAILING = re.compile(r"^(\s*\S.*?)/\*(?![*!<])(.*)\*/\s*$")


def comment_end(start):
    j = start
    while j < n and "*/" not in src[j]:
        j += 1
    return j


def comment_text(start, end):
    """The words of a block comment, on one line (for trailing docs)."""
    words = []
    for k in range(start, end + 1):
        t = src[k].strip()
        if k == start:
            t = t[2:]
        if k == end:
            t = t[: t.rfind("*/")]
        t = t.lstrip("*").strip()
        words.append(t)
    return " ".join(w for w in words if w).replace("*/", "")


def split_multi(line, doc):
    """`uint64_t a, b; /* d */` -> `uint64_t a; /**< d */ uint64_t b; /**< d */`."""
    m = MULTI.match(line)
    indent, typ, names, own = m.group(1), m.group(2), m.group(3), m.group(4)
    text = (own.strip() if own else doc or "").replace("*/", "")
    parts = [x.strip() for x in names.split(",")]
    return indent + " ".join(f"{typ} {p}; /**< {text} */" for p in parts)


seen_file_doc = False
run_doc = None          # doc for the #define lines that follow
member_doc = None       # doc for the multi-member line that follows
i = 0
while i < n:
    line = src[i]
    stripped = line.strip()
    if stripped.startswith("/* SPDX-License-Identifier"):
        i += 1
        continue
    if stripped.startswith("/*") and not stripped.startswith(("/**", "/*!", "/*@")):
        end = comment_end(i)
        text = comment_text(i, end)
        nxt = src[end + 1] if end + 1 < n else ""
        indent = line[: len(line) - len(line.lstrip())]
        if text.startswith(("----", "====")):
            run_doc = re.split(r"-{3,}|={3,}", text.strip("-= "))[0].strip() or None
        elif not seen_file_doc and indent == "" and i < 6:
            name = sys.argv[1].replace("\\", "/").rsplit("/", 1)[-1]
            out[i] = "/** @file " + name + " " + line.lstrip()[2:]
            seen_file_doc = True
        elif nxt.startswith("#define ") and not nxt.rstrip().endswith("\\"):
            run_doc = text              # plain here, given to each #define below
        elif MULTI.match(nxt):
            member_doc = text
        else:
            out[i] = indent + "/**" + line.lstrip()[2:]
            run_doc = None
        i = end + 1
        continue
    if not stripped:
        run_doc = None
        member_doc = None
    elif stripped.startswith("#define "):
        m = TRAILING.match(line)
        if m and not m.group(1).rstrip().endswith("\\"):
            out[i] = m.group(1) + "/**<" + m.group(2) + "*/"
        elif run_doc and not stripped.endswith("\\"):
            out[i] = line + " /**< " + run_doc + " */"
    elif MULTI.match(line):
        out[i] = split_multi(line, member_doc)
        member_doc = None
        run_doc = None
    else:
        m = TRAILING.match(line)
        if m and not stripped.startswith(("*", "#")) and not m.group(1).rstrip().endswith("\\"):
            if m.group(1).rstrip().endswith("{"):   # `struct x { /* doc */`: documents x
                code = m.group(1).rstrip()
                ind = code[: len(code) - len(code.lstrip())]
                out[i] = ind + "/**" + m.group(2) + "*/ " + code.lstrip()
            else:
                out[i] = m.group(1) + "/**<" + m.group(2) + "*/"
        if not stripped.startswith("#"):
            run_doc = None
        member_doc = None
    i += 1

# Exception mnemonics (#GP, #UD, #DB(...)) read as links to Doxygen: escape them.
def escape(l):
    k = l.find("/*") if l.lstrip().startswith("#") else 0
    return l if k < 0 else l[:k] + re.sub(r"(?<![\\\w])#([A-Z][A-Z]\b)", r"\\#\1", l[k:])


out = [escape(l) for l in out]
sys.stdout.write("\n".join(out))
