#!/usr/bin/env python3
"""Summarizes `cab eval` results (JSON lines) as a markdown report and PNG plots.

    python3 eval/report.py RESULTS.jsonl [MORE.jsonl ...] [--out-dir eval/results] [--name NAME]

Writes OUT_DIR/NAME.md: per task, a table of policy x budget with the mean of every metric, its
95% confidence interval (Wilson for accuracies, Student t for F1 and ROUGE), the number of
samples, the share of tokens kept and of KV memory held, and the ratio to the dense reference
(policy `full`) on the same samples; a headline table of each policy's main scores as a share
of dense at one budget; and, when the results have quantize rows, every cell's main scores
ordered by the KV memory it holds, so that int8 rows and eviction rows compare at equal memory. With
matplotlib, also OUT_DIR/NAME_<task>_<metric>.png (score vs budget per policy) and
OUT_DIR/NAME_<task>_depth_length.png (the share of facts kept, `contains`, by depth and length,
per policy, at the headline budget). Python 3 standard library, plus matplotlib for the plots.
"""

import argparse
import gzip
import json
import math
import os
import sys
from collections import OrderedDict, defaultdict

DENSE = "full"
# Int8 KV rows: "quantize" (budget "all": it keeps every token) and "quantize+<policy>".
QUANTIZE = "quantize"
ALL_TOKENS = "all"
# The headline table's columns. qa shows F1 (issue 5's metric) and contains: a chat model that
# answers in a sentence ("The favorite color of Imogen's grandmother is magenta.") has a low F1
# even when right, and contains tells whether the fact survived.
HEADLINE = [("passkey", "contains"), ("needle", "contains"), ("multikey", "contains"),
            ("qa", "f1"), ("qa", "contains"), ("xsum", "rougeL")]
# The metric of the depth x length heatmaps: did the fact survive.
RETAINED = "contains"
BINARY = {"contains", "em"}  # 0/1 metrics: accuracies
TASK_ORDER = ["passkey", "needle", "multikey", "qa", "xsum"]
# Student t quantiles t(0.975, df); past the table the closest smaller df is used (wider).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
        17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
        25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000,
        120: 1.980}
Z975 = 1.959964


def load(paths):
    records = []
    for path in paths:
        # Archived results are gzipped (eval/results/*.jsonl.gz); a run writes plain lines.
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"report.py: {path}:{number}: not JSON ({e})")
    if not records:
        sys.exit("report.py: no records in " + ", ".join(paths))
    configs = {r["config"] for r in records}
    if len(configs) > 1:
        sys.exit("report.py: the files mix configurations " + ", ".join(sorted(configs)) +
                 ": report each on its own")
    return records


def budget_order(label):
    """Shares first (ascending), then token counts (ascending), then other labels (plain
    quantize's "all"); dense's 100% among shares."""
    if label.endswith("%"):
        return (0, float(label[:-1]), "")
    try:
        return (1, float(label), "")
    except ValueError:
        return (2, 0.0, label)


def memory_share(record):
    """KV memory held over the dense cache's (`cab eval` records it; earlier records held only
    full-precision tokens, so their memory is the share of tokens kept)."""
    return record.get("memory_share", record["kept_share"])


def is_quantize(policy):
    return policy.split(":")[0].startswith(QUANTIZE)


def t975(df):
    if df >= 120:
        return T975[120] if df < 1000 else Z975
    return T975[max(k for k in T975 if k <= df)]


def wilson(successes, n):
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + Z975 ** 2 / n
    centre = (p + Z975 ** 2 / (2 * n)) / denom
    half = Z975 * math.sqrt(p * (1 - p) / n + Z975 ** 2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return (math.nan, math.nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return (max(0.0, mean - half), min(1.0, mean + half))


def summarize(values, metric):
    """Mean, (low, high) 95% CI, n."""
    n = len(values)
    mean = sum(values) / n
    ci = wilson(sum(values), n) if metric in BINARY else t_interval(values)
    return mean, ci, n


class Results:
    """Records indexed by (task, policy, budget) and by sample, for paired comparisons."""

    def __init__(self, records):
        self.records = records
        self.tasks = sorted({r["task"] for r in records},
                            key=lambda t: TASK_ORDER.index(t) if t in TASK_ORDER else 99)
        self.metrics = OrderedDict()
        for r in records:
            names = self.metrics.setdefault(r["task"], [])
            for m in r["metrics"]:
                if m not in names:
                    names.append(m)
        self.cells = defaultdict(list)  # (task, policy, budget) -> records
        self.dense = {}                 # sample -> its dense record
        for r in records:
            self.cells[(r["task"], r["policy"], r["budget"])].append(r)
            if r["policy"] == DENSE:
                self.dense[r["sample"]] = r
        policies = []
        for r in records:
            if r["policy"] not in policies:
                policies.append(r["policy"])
        self.policies = sorted(policies, key=lambda p: (p != DENSE, policies.index(p)))
        self.budgets = sorted({r["budget"] for r in records}, key=budget_order)

    def rows(self, task):
        """(policy, budget, records) of a task, dense first, budgets ascending."""
        out = []
        for p in self.policies:
            for b in self.budgets:
                recs = self.cells.get((task, p, b))
                if recs:
                    out.append((p, b, recs))
        return out

    def ratio_to_dense(self, recs, metric):
        """Mean of the cell over the mean of dense on the same samples."""
        paired = [(r["metrics"][metric], self.dense[r["sample"]]["metrics"][metric])
                  for r in recs if r["sample"] in self.dense and metric in r["metrics"]]
        if not paired:
            return math.nan
        dense = sum(d for _, d in paired) / len(paired)
        return sum(c for c, _ in paired) / len(paired) / dense if dense > 0 else math.nan


def fmt(x, digits=3):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def percent(ratio):
    """A ratio to dense as a whole percentage; n/a when dense scored nothing."""
    return "n/a" if math.isnan(ratio) else f"{100 * ratio:.0f}%"


def task_table(res, task):
    metrics = res.metrics[task]
    head = ["policy", "budget", "n", "kept", "memory"]
    for m in metrics:
        head += [f"{m} (95% CI)", f"{m} / dense"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for policy, budget, recs in res.rows(task):
        kept = sum(r["kept_share"] for r in recs) / len(recs)
        memory = sum(memory_share(r) for r in recs) / len(recs)
        row = [policy, budget, str(len(recs)), f"{100 * kept:.1f}%", f"{100 * memory:.1f}%"]
        for m in metrics:
            values = [r["metrics"][m] for r in recs if m in r["metrics"]]
            mean, (lo, hi), _ = summarize(values, m)
            row.append(f"{fmt(mean)} ({fmt(lo)}-{fmt(hi)})")
            row.append(fmt(res.ratio_to_dense(recs, m), 2))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def headline_table(res, budget):
    columns = [(t, m) for t, m in HEADLINE if m in res.metrics.get(t, [])]
    head = ["policy"] + [f"{t} ({m})" for t, m in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in res.policies:
        if p == DENSE or not any(res.cells.get((t, p, budget)) for t, _ in columns):
            continue
        row = [p]
        for t, m in columns:
            recs = res.cells.get((t, p, budget))
            row.append(percent(res.ratio_to_dense(recs, m)) if recs else "")
        lines.append("| " + " | ".join(row) + " |")
    dense_row = ["full (dense score)"]
    for t, m in columns:
        values = [r["metrics"][m] for r in res.cells.get((t, DENSE, "100%"), [])]
        dense_row.append(fmt(sum(values) / len(values)) if values else "")
    lines.append("| " + " | ".join(dense_row) + " |")
    return lines


def memory_table(res):
    """Every cell's headline scores as a share of dense, ordered by the KV memory it holds
    (its mean over all the cell's records)."""
    columns = [(t, m) for t, m in HEADLINE if m in res.metrics.get(t, [])]
    head = ["policy", "budget", "memory", "kept"] + [f"{t} ({m})" for t, m in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    cells = []
    for p in res.policies:
        if p == DENSE:
            continue
        for b in res.budgets:
            recs = [r for t in res.tasks for r in res.cells.get((t, p, b), [])]
            if recs:
                memory = sum(memory_share(r) for r in recs) / len(recs)
                kept = sum(r["kept_share"] for r in recs) / len(recs)
                cells.append((memory, p, b, kept))
    for memory, p, b, kept in sorted(cells, key=lambda c: (c[0], c[1], c[2])):
        row = [p, b, f"{100 * memory:.1f}%", f"{100 * kept:.1f}%"]
        for t, m in columns:
            recs = res.cells.get((t, p, b))
            row.append(percent(res.ratio_to_dense(recs, m)) if recs else "")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def write_markdown(res, path, name, budget, plots):
    first = res.records[0]
    samples = {r["sample"] for r in res.records}
    out = [f"# Quality under a KV budget: {name}", "",
           f"Model `{first.get('model', '?')}` on {first.get('device', '?')}, configuration "
           f"`{first['config']}`: {len(samples)} samples, {len(res.records)} records "
           "(`cab eval`, docs/QUALITY.md).", "",
           "Scores are means over samples with 95% confidence intervals: Wilson for the "
           "accuracies (contains, em), Student t for F1 and ROUGE. `kept` is the share of the "
           "prompt's tokens each (layer, kv head) stream kept; `memory` the KV bytes held after "
           "eviction over the dense cache's, full-precision blocks counted in BF16 (for "
           "eviction alone it is `kept`, to the block; quantize rows hold int8 blocks, and their "
           "budget is memory); `/ dense` is the cell's mean over "
           "the mean of the dense reference (policy `full`) on the same samples.", ""]
    if any(r["budget"] == budget for r in res.records):
        out += [f"## Headline: scores at budget {budget}, as a share of dense", ""]
        out += headline_table(res, budget) + [""]
    if any(is_quantize(p) for p in res.policies):
        out += ["## By KV memory: scores as a share of dense", "",
                "Every cell, ordered by the memory it holds (mean over its records), so that "
                "int8 rows and eviction rows compare at equal memory.", ""]
        out += memory_table(res) + [""]
    for task in res.tasks:
        out += [f"## {task}", ""] + task_table(res, task) + [""]
        out += [f"![{task} {m}]({os.path.basename(p)})" for (t, m), p in plots.items()
                if t == task] + [""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def plot_budgets(res, task, metric, path, plt):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    budgets = [b for b in res.budgets if b != "100%" or
               any(res.cells.get((task, p, b)) for p in res.policies if p != DENSE)]
    x = {b: i for i, b in enumerate(budgets)}
    for p in res.policies:
        if p == DENSE:
            recs = res.cells.get((task, DENSE, "100%"))
            if recs:
                mean, (lo, hi), _ = summarize([r["metrics"][metric] for r in recs], metric)
                ax.axhline(mean, color="black", linestyle="--", label="full (dense)")
                if not math.isnan(lo):
                    ax.axhspan(lo, hi, color="black", alpha=0.08)
            continue
        pts = []
        for b in budgets:
            recs = res.cells.get((task, p, b))
            if recs:
                mean, (lo, hi), _ = summarize([r["metrics"][metric] for r in recs], metric)
                pts.append((x[b], mean, lo, hi))
        if pts:
            xs, ys = [q[0] for q in pts], [q[1] for q in pts]
            err = [[max(0.0, q[1] - q[2]) if not math.isnan(q[2]) else 0 for q in pts],
                   [max(0.0, q[3] - q[1]) if not math.isnan(q[3]) else 0 for q in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=p)
    ax.set_xticks(range(len(budgets)))
    ax.set_xticklabels(budgets)
    ax.set_xlabel("KV budget per stream (share of the prompt, or tokens)")
    ax.set_ylabel(metric)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{task}: {metric} vs KV budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_depths(res, task, budget, path, plt):
    metric = RETAINED
    recs = [r for r in res.records if r["task"] == task and r.get("depth", -1) >= 0]
    depths = sorted({r["depth"] for r in recs})
    lengths = sorted({r["target_length"] for r in recs})
    panels = [(DENSE, "100%")] + [(p, b) for p in res.policies if p != DENSE
                                  for b in (budget, ALL_TOKENS) if res.cells.get((task, p, b))]
    if not depths or not lengths:
        return False
    cols = min(4, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols + 1, 3.2 * rows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    image = None
    for ax, (p, b) in zip(axes.flat, panels):
        grid = [[math.nan] * len(lengths) for _ in depths]
        for i, d in enumerate(depths):
            for j, length in enumerate(lengths):
                vals = [r["metrics"][metric] for r in res.cells.get((task, p, b), [])
                        if r["depth"] == d and r["target_length"] == length]
                if vals:
                    grid[i][j] = sum(vals) / len(vals)
                    ax.text(j, i, f"{grid[i][j]:.2f}", ha="center", va="center", fontsize=7)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(lengths)))
        ax.set_xticklabels(lengths, fontsize=7)
        ax.set_yticks(range(len(depths)))
        ax.set_yticklabels([f"{d}%" for d in depths], fontsize=7)
        ax.set_title(f"{p} @ {b}", fontsize=9)
        ax.set_xlabel("length (tokens)", fontsize=7)
        ax.set_ylabel("depth", fontsize=7)
    fig.suptitle(f"{task}: {metric} by depth and length")
    fig.colorbar(image, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def make_plots(res, out_dir, name, budget):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: matplotlib is missing (apt install python3-matplotlib): no plots",
              file=sys.stderr)
        return {}
    plots = OrderedDict()
    for task in res.tasks:
        for metric in res.metrics[task]:
            path = os.path.join(out_dir, f"{name}_{task}_{metric}.png")
            plot_budgets(res, task, metric, path, plt)
            plots[(task, metric)] = path
        if RETAINED in res.metrics[task]:
            path = os.path.join(out_dir, f"{name}_{task}_depth_length.png")
            if plot_depths(res, task, budget, path, plt):
                plots[(task, "depth_length")] = path
    return plots


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", help="JSON-lines files written by `cab eval`")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "results"))
    ap.add_argument("--name", help="report name (default: the first file's name without .jsonl)")
    ap.add_argument("--budget", default="10%",
                    help="budget of the headline table and the depth heatmaps (default 10%%)")
    args = ap.parse_args()
    name = args.name or os.path.basename(args.results[0]).removesuffix(".gz").removesuffix(".jsonl")
    res = Results(load(args.results))
    os.makedirs(args.out_dir, exist_ok=True)
    plots = make_plots(res, args.out_dir, name, args.budget)
    md = os.path.join(args.out_dir, name + ".md")
    write_markdown(res, md, name, args.budget, plots)
    print(f"report.py: wrote {md} and {len(plots)} plots")


if __name__ == "__main__":
    main()
