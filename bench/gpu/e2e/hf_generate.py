#!/usr/bin/env python3
"""The HF transformers baseline of bench_generate, on the same GPU and the same token ids:
load time; prefill of an N-token prompt (one forward pass, use_cache=True, logits of the last
position only, as generate computes them); decode tokens/s at each batch size with
model.generate(do_sample=False, min_new_tokens = max_new_tokens = S) minus a generate of one
token (the prefill and first token), and with a plain greedy loop over past_key_values (no
generate overhead). Medians over repetitions, torch.cuda.synchronize around every timing.

Requirements (pip): torch with CUDA, transformers (sdpa attention). Run on the GPU machine.
usage: python3 bench/gpu/e2e/hf_generate.py --model HF_DIR [--prompt 4096] [--batch 1,16]
           [--decode-prompt 32] [--steps 64] [--warmup 8] [--reps 3] [--seed 1]
           [--json PATH] [--label NAME] [--commit SHA]
"""
import argparse
import datetime
import inspect
import json
import statistics
import sys
import time

import torch
import transformers

MASK64 = (1 << 64) - 1


def random_tokens(seed, n, n_vocab):
    """bench_generate.cpp's random_tokens: a 64-bit LCG (Knuth's MMIX constants)."""
    x = (seed * 0x9E3779B97F4A7C15 + 1) & MASK64
    out = []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK64
        out.append((x >> 33) % n_vocab)
    return out


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    result = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, result


def log(msg):
    print(msg, flush=True)


class Bench:
    def __init__(self, model, args):
        self.model = model
        self.args = args
        self.n_vocab = model.config.vocab_size
        params = inspect.signature(model.forward).parameters
        # generate asks for the last position's logits only; the prefill here does the same.
        self.last_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}

    def prefill(self):
        a = self.args
        ids = torch.tensor([random_tokens(a.seed, a.prompt, self.n_vocab)], device="cuda")
        times = []
        torch.cuda.reset_peak_memory_stats()
        for rep in range(a.reps + 1):
            with torch.inference_mode():
                t, out = timed(lambda: self.model(input_ids=ids, use_cache=True,
                                                  **self.last_only))
            del out
            if rep > 0:
                times.append(t)
            log(f"  prefill rep {rep}{'' if rep else ' (warmup)'}: {t:.4f} s")
        m = statistics.median(times)
        return {"tokens": a.prompt, "times_s": times, "median_s": m,
                "tokens_per_s": a.prompt / m, "last_logits_only": bool(self.last_only),
                "peak_bytes": torch.cuda.max_memory_allocated()}

    def prompts(self, batch):
        a = self.args
        rows = [random_tokens(a.seed + 1 + s, a.decode_prompt, self.n_vocab)
                for s in range(batch)]
        return torch.tensor(rows, device="cuda")

    def generate(self, ids, n):
        eos = self.model.generation_config.eos_token_id
        pad = eos[0] if isinstance(eos, list) else eos
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                      max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                      num_beams=1, use_cache=True, pad_token_id=pad)
        if out.shape[1] != ids.shape[1] + n:
            sys.exit(f"generate made {out.shape[1] - ids.shape[1]} tokens, not {n}")
        return out

    def decode_generate(self, batch):
        """Decode through generate: median(S new tokens) - median(1 new token), S - 1 steps."""
        a = self.args
        ids = self.prompts(batch)
        self.generate(ids, a.warmup)
        one, full = [], []
        for rep in range(a.reps):
            one.append(timed(lambda: self.generate(ids, 1))[0])
            full.append(timed(lambda: self.generate(ids, a.steps))[0])
            log(f"  generate B={batch} rep {rep}: 1 token {one[-1]:.4f} s, "
                f"{a.steps} tokens {full[-1]:.4f} s")
        decode_s = statistics.median(full) - statistics.median(one)
        return {"times_1_token_s": one, "times_s": full, "decode_steps": a.steps - 1,
                "decode_s": decode_s, "ms_per_step": decode_s * 1e3 / (a.steps - 1),
                "tokens_per_s": batch * (a.steps - 1) / decode_s}

    def decode_loop(self, batch):
        """A plain greedy loop: prefill, warmup steps, then timed steps, each one forward pass
        over past_key_values and an argmax on the GPU."""
        a = self.args
        ids = self.prompts(batch)
        times, greedy = [], []
        for rep in range(a.reps):
            with torch.inference_mode():
                out = self.model(input_ids=ids, use_cache=True, **self.last_only)
                cache = out.past_key_values
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
                seen = []

                def step():
                    nonlocal out, cache, nxt
                    seen.append(nxt[0, 0])
                    out = self.model(input_ids=nxt, past_key_values=cache, use_cache=True)
                    cache = out.past_key_values
                    nxt = out.logits[:, -1].argmax(-1, keepdim=True)

                for _ in range(a.warmup):
                    step()
                t, _ = timed(lambda: [step() for _ in range(a.steps)])
            times.append(t)
            if rep == 0:
                greedy = [int(x) for x in seen[:16]]
            del out, cache
            log(f"  loop B={batch} rep {rep}: {t * 1e3 / a.steps:.2f} ms/step, "
                f"{batch * a.steps / t:.1f} tokens/s")
        m = statistics.median(times)
        return {"steps": a.steps, "warmup_steps": a.warmup, "times_s": times, "median_s": m,
                "ms_per_step": m * 1e3 / a.steps, "tokens_per_s": batch * a.steps / m,
                "greedy_tokens_seq0": greedy}


def model_info(model, path):
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return {"path": path, "arch": c.model_type,
            "n_params": sum(p.numel() for p in model.parameters()),
            "n_vocab": c.vocab_size, "n_embd": c.hidden_size, "n_layer": c.num_hidden_layers,
            "n_head": c.num_attention_heads, "n_head_kv": c.num_key_value_heads,
            "head_dim": head_dim, "n_ff": c.intermediate_size,
            "tied": bool(c.tie_word_embeddings)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", type=int, default=4096)
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--decode-prompt", type=int, default=32)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--label", default="")
    ap.add_argument("--commit", default="unknown")
    args = ap.parse_args()
    if args.steps < 2 or args.reps < 1 or args.warmup < 1:
        sys.exit("--steps must be at least 2, --reps and --warmup at least 1")
    if not torch.cuda.is_available():
        sys.exit("hf_generate.py needs a CUDA GPU")
    batches = [int(b) for b in args.batch.split(",")]

    t, model = timed(lambda: transformers.AutoModelForCausalLM.from_pretrained(
        args.model, dtype=torch.bfloat16, attn_implementation="sdpa", device_map="cuda"))
    model.eval()
    load_s = t
    device = torch.cuda.get_device_name()
    log(f"hf_generate: {args.label or args.model} on {device}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, attention "
        f"{model.config._attn_implementation}\n  load: {load_s:.2f} s")

    bench = Bench(model, args)
    prefill = bench.prefill()
    decode = []
    for b in batches:
        decode.append({"batch": b, "prompt_tokens": args.decode_prompt,
                       "generate": bench.decode_generate(b), "loop": bench.decode_loop(b)})

    print(f"\n| figure | median | tokens/s |\n|---|---|---|\n| load | {load_s:.2f} s | |\n"
          f"| prefill {args.prompt} tokens | {prefill['median_s']:.4f} s | "
          f"{prefill['tokens_per_s']:.0f} |")
    for d in decode:
        g, lp = d["generate"], d["loop"]
        print(f"| decode B={d['batch']}, generate | {g['ms_per_step']:.3f} ms/step | "
              f"{g['tokens_per_s']:.1f} |\n| decode B={d['batch']}, greedy loop | "
              f"{lp['ms_per_step']:.3f} ms/step | {lp['tokens_per_s']:.1f} |")
    if args.json:
        result = {
            "tool": "hf_generate", "impl": "hf_transformers", "label": args.label,
            "provenance": {"device_name": device, "torch": torch.__version__,
                           "transformers": transformers.__version__,
                           "cuda": torch.version.cuda, "commit": args.commit,
                           "command": " ".join(sys.argv),
                           "date": datetime.date.today().isoformat()},
            "model": model_info(model, args.model),
            "attn_implementation": model.config._attn_implementation,
            "dtype": "bfloat16", "reps": args.reps, "seed": args.seed,
            "prompt_token_ids": "64-bit LCG token ids (bench_generate.cpp random_tokens)",
            "decode_method": "generate: median(generate S tokens) - median(generate 1 token), "
                             "over S - 1 steps; loop: greedy argmax over past_key_values",
            "load_s": load_s, "prefill": prefill, "decode": decode}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
