#!/usr/bin/env python3
"""End-to-end CPU figures of `cab generate` on a real model: load time, prefill tokens/s on a
~1k-token prompt, decode tokens/s, peak RSS. Runs the tool REPEATS times and reports medians.

  python3 bench/cpu_generate.py [--cab build/bin/cab] [--model M] [--repeats 5] [--out DIR]

Standard library only. Writes bench/results/cpu_generate_<date>.json (machine, commit, command).
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prompt_text(shared, n_chars):
    with open(os.path.join(shared, "data/paul_graham_essays/startuplessons.txt")) as f:
        text = f.read()
    return "Summarize the following essay.\n\n" + text[:n_chars]


def run_once(cab, model, prompt_file, n_predict, threads):
    cmd = ["/usr/bin/time", "-f", "maxrss_kib=%M", cab, "generate", "-m", model, "-f",
           prompt_file, "-n", str(n_predict), "--threads", str(threads), "--seed", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    err = r.stderr

    def grab(pattern):
        m = re.search(pattern, err)
        if not m:
            sys.exit("cab output lacks %r:\n%s" % (pattern, err))
        return m.groups()

    load_s, = grab(r"loaded in ([0-9.]+) s")
    n_prompt, prefill_s, prefill_tps = grab(r"prompt:\s+(\d+) tokens, prefill ([0-9.]+) s, ([0-9.]+) tokens/s")
    n_gen, decode_tps = grab(r"generated:\s+(\d+) tokens, .* ([0-9.]+) tokens/s")
    rss, = grab(r"maxrss_kib=(\d+)")
    return {"load_s": float(load_s), "prompt_tokens": int(n_prompt), "prefill_s": float(prefill_s),
            "prefill_tokens_per_s": float(prefill_tps), "generated_tokens": int(n_gen),
            "decode_tokens_per_s": float(decode_tps), "peak_rss_mib": int(rss) / 1024.0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cab", default=os.path.join(ROOT, "build/bin/cab"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "../shared"))
    ap.add_argument("--chars", type=int, default=4000, help="prompt length in characters (~1k tokens)")
    ap.add_argument("--n-predict", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results"))
    args = ap.parse_args()

    prompt_file = os.path.join(ROOT, "build", "bench_prompt.txt")
    os.makedirs(os.path.dirname(prompt_file), exist_ok=True)
    with open(prompt_file, "w") as f:
        f.write(prompt_text(args.shared, args.chars))
    runs = [run_once(args.cab, args.model, prompt_file, args.n_predict, args.threads)
            for _ in range(args.repeats)]
    keys = ["load_s", "prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_mib"]
    median = {k: statistics.median(r[k] for r in runs) for k in keys}
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    result = {
        "benchmark": "cpu_generate",
        "date": datetime.date.today().isoformat(),
        "device": "CPU: %s, %d threads" % (platform.processor() or platform.machine(), os.cpu_count()),
        "commit": commit,
        "command": "python3 bench/cpu_generate.py " + " ".join(sys.argv[1:]),
        "model": os.path.basename(args.model),
        "threads": args.threads,
        "prompt_tokens": runs[0]["prompt_tokens"],
        "median": median,
        "runs": runs,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "cpu_generate_%s.json" % result["date"])
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print("%-22s %10s" % ("metric (median of %d)" % args.repeats, "value"))
    print("%-22s %10d" % ("prompt tokens", result["prompt_tokens"]))
    print("%-22s %10.3f" % ("load s", median["load_s"]))
    print("%-22s %10.1f" % ("prefill tokens/s", median["prefill_tokens_per_s"]))
    print("%-22s %10.1f" % ("decode tokens/s", median["decode_tokens_per_s"]))
    print("%-22s %10.0f" % ("peak RSS MiB", median["peak_rss_mib"]))
    print("wrote", path)


if __name__ == "__main__":
    main()
