#!/usr/bin/env python3
"""Cuts the allowed growth of struct_size structs out of an ABI dump; abidiff judges the rest.

libcab's options and output structs start with `uint32_t struct_size` and may gain members at
their end (docs/ABI.md). abidiff reports that growth as a change, and its own suppression
(has_data_member_inserted_at = end) also hides changed member types, so this script does the
narrow thing instead: in NEW.abi, each such struct whose OLD members are an exact prefix of its
members (same names at the same offsets) is cut back to those members and the OLD size. Every
other difference, including a changed type of an old member, stays for abidiff to report.

    strip_struct_growth.py OLD.abi NEW.abi OUT.abi

Requirements: the Python 3 standard library only.
"""
import sys
import xml.etree.ElementTree as ET


def members(struct):
    """The (name, offset in bits) of each data member, in order."""
    out = []
    for member in struct.findall("data-member"):
        var = member.find("var-decl")
        out.append((var.get("name"), member.get("layout-offset-in-bits")))
    return out


def has_struct_size(struct):
    first = members(struct)[:1]
    return first == [("struct_size", "0")]


def old_layouts(root):
    """name -> (members, size in bits) of every struct_size struct in the old dump."""
    layouts = {}
    for struct in root.iter("class-decl"):
        if has_struct_size(struct):
            layouts[struct.get("name")] = (members(struct), struct.get("size-in-bits"))
    return layouts


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: strip_struct_growth.py OLD.abi NEW.abi OUT.abi")
    old = old_layouts(ET.parse(argv[1]).getroot())
    tree = ET.parse(argv[2])
    cut = set()
    for struct in tree.getroot().iter("class-decl"):
        name = struct.get("name")
        if name not in old or not has_struct_size(struct):
            continue
        old_members, old_size = old[name]
        new_members = members(struct)
        grew = len(new_members) > len(old_members)
        if not grew or new_members[: len(old_members)] != old_members:
            continue
        for member in struct.findall("data-member")[len(old_members) :]:
            struct.remove(member)
        struct.set("size-in-bits", old_size)
        cut.add(f"{name} (+{len(new_members) - len(old_members)} members)")
    tree.write(argv[3], encoding="unicode")
    for line in sorted(cut):
        print(f"grown at the end, allowed: {line}")


if __name__ == "__main__":
    main(sys.argv)
