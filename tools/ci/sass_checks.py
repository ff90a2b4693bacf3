#!/usr/bin/env python3
"""Static checks of the compiled tensor-core attention kernels (sm_90a SASS, no GPU needed).

1. No instruction writes a register that an in-flight wgmma (HGMMA) still reads or accumulates
   into: its A-operand registers and its accumulators belong to the warpgroup's tensor cores
   until a WARPGROUP.DEPBAR retires its commit group. ptxas is meant to keep this, yet in
   session 11 it gave a P tile packed before the wait for P V the very registers that product was
   reading (PERFORMANCE.md, "What was tried"): outputs went wrong only with some schedules, and
   one such build passed the GPU tests. The scan is linear over each kernel's SASS: short else
   blocks are left out of the path, and a loop's body is scanned as its first pass (a hazard
   only across the back edge would be missed).
2. The tensor-core kernels keep no stack frame: no register spills.

   python3 tools/ci/sass_checks.py SASS_FILE RES_USAGE_FILE
SASS_FILE is `cuobjdump -sass` output, RES_USAGE_FILE `cuobjdump -res-usage` output, of the same
objects. Prints one line per kernel; exits 1 when a check fails.
"""
import re
import sys

HAZARD_KERNELS = ("prefill_sm90_kernel",)
NO_STACK_KERNELS = (
    "prefill_sm90_kernel",
    "decode_kernel",
    "decode_sm90_kernel",
    "merge_kernel",
    "settle_kernel",
)
INSTR = re.compile(r"^\s+/\*([0-9a-f]{4,6})\*/\s+(.*?)\s*;")
HGMMA = re.compile(r"HGMMA\.64x(\d+)x\d+\S* R(\d+), (?:R(\d+)|gdesc)")
DEPBAR = re.compile(r"WARPGROUP\.DEPBAR\.LE gsb0, 0x(\d+)")
BRANCH = re.compile(r"^BRA (0x[0-9a-f]+)")
# The destination register of an instruction that writes one (first operand, an R register).
WRITE = re.compile(r"^(?:@!?U?P\w+\s+)?([A-Z0-9_.]+)\s+R(\d+)\b")
NOT_WRITES = ("ST", "RED", "ATOM", "BRA", "WARPGROUP", "HGMMA")
# Unconditional forward jumps up to this many bytes (64 instructions) skip an else block, whose
# waits must not count on the path that jumps over it; longer ones (a loop's entry jump to its
# test) are scanned through.
SHORT_JUMP = 0x400


def functions(sass):
    """(name, [(address, text)]) for every function in a cuobjdump -sass listing."""
    for block in sass.split("Function : ")[1:]:
        name = block.split()[0]
        body = []
        for line in block.splitlines():
            m = INSTR.match(line)
            if m:
                body.append((int(m.group(1), 16), m.group(2)))
        yield name, body


def hazards(body):
    """Instructions writing a register of a wgmma group that no wait has retired yet."""
    pending = []  # [registers, groups committed after this one]
    current = set()  # registers of the group being issued (not yet committed)
    found = []
    skip_to = None
    for addr, text in body:
        if skip_to is not None:
            if addr < skip_to:
                continue
            skip_to = None
        b = BRANCH.match(text)
        if b and 0 < int(b.group(1), 16) - addr <= SHORT_JUMP:
            skip_to = int(b.group(1), 16)  # an else block: the path scanned jumps over it
            continue
        m = HGMMA.search(text)
        if m:
            n, acc = int(m.group(1)), int(m.group(2))
            current |= set(range(acc, acc + n // 2))  # 64 x n fp32 over 128 threads
            if m.group(3):
                a = int(m.group(3))
                current |= {a, a + 1, a + 2, a + 3}
            if "gsb0" in text:  # the group's last product: committed
                for group in pending:
                    group[1] += 1
                pending.append([current, 0])
                current = set()
            continue
        d = DEPBAR.search(text)
        if d:
            keep = int(d.group(1))
            pending = [g for g in pending if g[1] < keep]
            continue
        w = WRITE.match(text)
        if w and not w.group(1).startswith(NOT_WRITES):
            reg = int(w.group(2))
            if reg in current or any(reg in g[0] for g in pending):
                found.append("%04x %s" % (addr, text))
    return found


def stack_sizes(res_usage):
    sizes = {}
    name = None
    for line in res_usage.splitlines():
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"STACK:(\d+)", line)
        if m and name:
            sizes[name] = int(m.group(1))
            name = None
    return sizes


# Two listings in cuobjdump's form for --self-test: P V reads R120-R123 and accumulates into
# R88-R119; the first writes R121 before the wait that retires it, the second after.
SELF_TEST = """
        Function : bad_prefill_sm90_kernel
        /*0000*/                   HGMMA.64x64x16.F32.BF16 R88, R120, gdesc[UR16].tnspB, R88, gsb0 ;
        /*0010*/                   FMNMX R121, R30, R31, !PT ;
        /*0020*/                   WARPGROUP.DEPBAR.LE gsb0, 0x0 ;
        Function : good_prefill_sm90_kernel
        /*0000*/                   HGMMA.64x64x16.F32.BF16 R88, R120, gdesc[UR16].tnspB, R88, gsb0 ;
        /*0010*/                   BRA 0x30 ;
        /*0020*/                   WARPGROUP.DEPBAR.LE gsb0, 0x0 ;
        /*0030*/                   FMNMX R20, R30, R31, !PT ;
        /*0040*/                   WARPGROUP.DEPBAR.LE gsb0, 0x0 ;
        /*0050*/                   F2FP.BF16.F32.PACK_AB R121, R25, R24 ;
"""


def self_test():
    found = {name: hazards(body) for name, body in functions(SELF_TEST)}
    if len(found["bad_prefill_sm90_kernel"]) != 1 or found["good_prefill_sm90_kernel"]:
        sys.exit("sass_checks: self-test failed: %s" % found)


def main():
    self_test()
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sass = open(sys.argv[1]).read()
    stacks = stack_sizes(open(sys.argv[2]).read())
    failed = checked = 0
    for name, body in functions(sass):
        hazard_check = any(k in name for k in HAZARD_KERNELS)
        stack_check = any(k in name for k in NO_STACK_KERNELS)
        if not (hazard_check or stack_check):
            continue
        checked += 1
        problems = []
        if hazard_check:
            found = hazards(body)
            if found:
                problems.append("%d writes to in-flight wgmma registers, first: %s" %
                                (len(found), found[0]))
        if stack_check and stacks.get(name, 0) > 0:
            problems.append("%d-byte stack frame (register spills)" % stacks[name])
        print("%-6s %s%s" % ("FAIL" if problems else "ok", name[:110],
                             "".join("\n       " + p for p in problems)))
        failed += bool(problems)
    if checked == 0:
        sys.exit("sass_checks: no tensor-core attention kernel in the listing")
    print("%d kernels checked, %d failed" % (checked, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
