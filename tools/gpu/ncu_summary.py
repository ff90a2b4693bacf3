#!/usr/bin/env python3
"""Kernel time summary of an `ncu --metrics gpu__time_duration.sum --csv` log: launches, total
and mean GPU time per kernel name, biggest first, and the total per decode step."""
import argparse
import collections
import csv
import io
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv")
    ap.add_argument("--steps", type=int, default=1, help="decode steps in the profiled run")
    ap.add_argument("--top", type=int, default=16)
    a = ap.parse_args()
    text = open(a.csv, errors="replace").read()
    start = text.find('"ID"')
    if start < 0:
        sys.exit("no ncu table in " + a.csv)
    total = collections.defaultdict(float)
    count = collections.Counter()
    for row in csv.DictReader(io.StringIO(text[start:])):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"].split("(")[0][:80]
        total[name] += float(row["Metric Value"].replace(",", ""))
        count[name] += 1
    all_ns = sum(total.values())
    print("kernels: %d launches, %.3f ms GPU time (%.1f us per step over %d steps, prefill included)"
          % (sum(count.values()), all_ns / 1e6, all_ns / 1e3 / a.steps, a.steps))
    for name, ns in sorted(total.items(), key=lambda kv: -kv[1])[: a.top]:
        print("%6d x %8.2f us  %5.1f%%  %s" % (count[name], ns / count[name] / 1e3,
                                              100 * ns / all_ns, name))


if __name__ == "__main__":
    main()
