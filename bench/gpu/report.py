"""Merges cab_attention_bench's and attention_torch.py's JSON into one result file (device,
commit, command, figures) and prints the comparison tables.

pip requirements: none (standard library).
usage: python3 report.py CAB_JSON TORCH_JSON OUT_JSON COMMIT COMMAND
"""

import json
import sys


def index(records, op, impl, kv_type="bf16", pdl=False):
    out = {}
    for r in records:
        if r["op"] == op and r["impl"] == impl and r.get("kv_type", "bf16") == kv_type and \
                r.get("pdl", False) == pdl:
            key = (r["shape"], r.get("n"), r.get("batch"), r.get("kv_len"), r["scores"])
            out[key] = r
    return out


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def gib(b):
    return None if b is None else b / 2**30


def main():
    cab_path, torch_path, out_path, commit, command = sys.argv[1:6]
    cab = json.load(open(cab_path))
    tch = json.load(open(torch_path))
    records = cab["records"] + tch["records"]
    copy = {r["impl"]: r["gbps"] for r in records if r["op"] == "copy"}
    copy_gbps = max(copy.values())
    result = {"device": cab["device"], "sm_count": cab["sm_count"], "commit": commit,
              "command": command, "torch": tch["torch"], "copy_gbps": copy_gbps,
              "records": records}
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)

    ours = index(records, "prefill", "cab")
    sm80 = index(records, "prefill", "cab_sm80")
    flash = index(records, "prefill", "torch_sdpa_flash")
    eager = index(records, "prefill", "torch_eager_colsum")
    print(f"\n{cab['device']}, commit {commit}, torch {tch['torch']}; "
          f"copy bandwidth {copy_gbps} GB/s (read + write)")
    print("\nPrefill, causal, one sequence (ms | TFLOP/s | peak GiB); ratio = throughput vs "
          "SDPA flash; cab is the kernel the engine runs (wgmma on sm_90), sm80 the mma.sync one")
    print(f"{'shape':13} {'N':>6} | {'cab':>18} | {'cab + scores':>18} | "
          f"{'SDPA flash':>18} | {'eager + colsum':>18} | {'cab/fl':>6} {'cab+s/fl':>8} | "
          f"{'sm80/fl':>7} {'sm80+s/fl':>9}")
    for (shape, n, _, _, scores), r in ours.items():
        if scores:
            continue
        s = ours.get((shape, n, None, None, True), {})
        fl = flash.get((shape, n, None, None, False), {})
        ea = eager.get((shape, n, None, None, True), {})

        def cell(x):
            if x.get("error"):
                return f"{x['error']:>18}"
            return (f"{fmt(x.get('ms'), '7.2f')} {fmt(x.get('tflops'), '5.0f')} "
                    f"{fmt(gib(x.get('peak_bytes')), '4.1f')}")

        ratio = lambda a: fmt(a.get("tflops") / fl["tflops"], ".2f") if a.get("tflops") and \
            fl.get("tflops") else "-"
        m = sm80.get((shape, n, None, None, False), {})
        ms = sm80.get((shape, n, None, None, True), {})
        print(f"{shape:13} {n:>6} | {cell(r)} | {cell(s)} | {cell(fl)} | {cell(ea)} | "
              f"{ratio(r):>6} {ratio(s):>8} | {ratio(m):>7} {ratio(ms):>9}")

    ours = index(records, "decode", "cab")
    dsm80 = index(records, "decode", "cab_sm80")
    sdpa = index(records, "decode", "torch_sdpa")
    pdl = index(records, "decode", "cab", pdl=True)
    print("\nDecode, paged, one query per sequence (us | GB/s of K+V read | % of copy "
          "bandwidth); cab is the kernel the engine runs (TMA copies on sm_90), sm80 the "
          "cp.async one (us, no scores / scores); PDL: cab launched as a programmatic "
          "dependent of the kernel before it, as the engine's decode steps launch it")
    print(f"{'shape':13} {'B':>3} {'KV':>6} | {'cab':>20} | {'cab + scores':>20} | "
          f"{'SDPA':>20} | splits | settle us | {'sm80':>13} | {'PDL: cab':>20} | "
          f"{'PDL: cab + scores':>20} | splits")
    for (shape, _, batch, kv_len, scores), r in ours.items():
        if scores:
            continue
        s = ours.get((shape, None, batch, kv_len, True), {})
        t = sdpa.get((shape, None, batch, kv_len, False), {})

        def cell(x):
            g = x.get("gbps")
            pct = None if g is None else 100.0 * g / copy_gbps
            return f"{fmt(x.get('us'), '8.1f')} {fmt(g, '5.0f')} {fmt(pct, '4.0f')}%"

        m = dsm80.get((shape, None, batch, kv_len, False), {})
        ms = dsm80.get((shape, None, batch, kv_len, True), {})
        p = pdl.get((shape, None, batch, kv_len, False), {})
        ps = pdl.get((shape, None, batch, kv_len, True), {})
        print(f"{shape:13} {batch:>3} {kv_len:>6} | {cell(r)} | {cell(s)} | {cell(t)} | "
              f"{r.get('splits'):>6} | {fmt(s.get('settle_us'), '9.1f')} | "
              f"{fmt(m.get('us'), '6.1f')} {fmt(ms.get('us'), '6.1f')} | {cell(p)} | "
              f"{cell(ps)} | {fmt(ps.get('splits'), '>6')}")

    q8 = index(records, "decode", "cab", "int8")
    if not q8:
        return
    print("\nDecode over int8 KV blocks (issue 8) against bf16, same shapes: us | GB/s of int8 "
          "rows + scales read; speed-up = bf16 us / int8 us (bytes read: 0.53x at d 64, 0.52x "
          "at d 128)")
    print(f"{'shape':13} {'B':>3} {'KV':>6} | {'int8':>14} | {'int8 + scores':>14} | "
          f"{'speed-up':>8} {'+ scores':>8}")
    for (shape, _, batch, kv_len, scores), r in q8.items():
        if scores:
            continue
        s = q8.get((shape, None, batch, kv_len, True), {})
        b = ours.get((shape, None, batch, kv_len, False), {})
        bs = ours.get((shape, None, batch, kv_len, True), {})
        cell = lambda x: f"{fmt(x.get('us'), '8.1f')} {fmt(x.get('gbps'), '5.0f')}"
        up = lambda a, q: fmt(a["us"] / q["us"], ".2f") if a.get("us") and q.get("us") else "-"
        print(f"{shape:13} {batch:>3} {kv_len:>6} | {cell(r)} | {cell(s)} | {up(b, r):>8} "
              f"{up(bs, s):>8}")


if __name__ == "__main__":
    main()
