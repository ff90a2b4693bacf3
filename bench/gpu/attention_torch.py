"""Torch baselines for the attention kernel benchmark (bench/gpu/run.sh), same shapes and
measures as cab_attention_bench: causal prefill through SDPA's flash backend (no scores) and
through eager attention plus column sums (what an earlier prototype did to get scores), decode
through SDPA with q_len 1 and enable_gqa, and the device-to-device copy bandwidth.

pip requirements: torch>=2.5 (enable_gqa), triton (do_bench); both are on the GPU machine.
usage: python3 attention_torch.py [--only prefill|decode] > attention_torch.json
"""

import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench, do_bench_cudagraph

PREFILL_SHAPES = [("qwen2.5-7b", 28, 4, 128), ("qwen2.5-0.5b", 14, 2, 64)]
PREFILL_N = [1024, 4096, 16384, 32768]
DECODE_BATCH = [1, 16, 64]
DECODE_LEN = [4096, 16384, 32768]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def peak_bytes(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def sdpa_flash(q, k, v):
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


def sdpa_flash_expanded(q, k, v):
    """The flash backend on K/V repeated per query head, if it refuses enable_gqa."""
    group = q.shape[1] // k.shape[1]
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k.repeat_interleave(group, dim=1),
                                              v.repeat_interleave(group, dim=1), is_causal=True)


def eager_colsum(q, k, v):
    group = q.shape[1] // k.shape[1]
    n = q.shape[2]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    s = torch.matmul(q, k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5
    s.masked_fill_(torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    p = torch.softmax(s, dim=-1)
    o = torch.matmul(p.to(q.dtype), v)
    cols = p.sum(dim=2).view(k.shape[1] // group, group, n).sum(dim=1)
    return o, cols


def prefill_records():
    out = []
    for name, n_head, n_head_kv, d in PREFILL_SHAPES:
        for n in PREFILL_N:
            q = torch.randn(1, n_head, n, d, device="cuda", dtype=torch.bfloat16)
            k = torch.randn(1, n_head_kv, n, d, device="cuda", dtype=torch.bfloat16)
            v = torch.randn(1, n_head_kv, n, d, device="cuda", dtype=torch.bfloat16)
            flops = 4.0 * n_head * d * n * (n + 1) / 2
            flash = sdpa_flash
            try:
                sdpa_flash(q, k, v)
            except RuntimeError as err:
                log("flash SDPA refuses enable_gqa, expanding K/V:", err)
                flash = sdpa_flash_expanded
            for impl, fn in (("torch_sdpa_flash", flash), ("torch_eager_colsum", eager_colsum)):
                rec = {"op": "prefill", "impl": impl, "shape": name, "n_head": n_head,
                       "n_head_kv": n_head_kv, "head_dim": d, "n": n,
                       "scores": impl == "torch_eager_colsum",
                       "gqa": "expanded" if fn is sdpa_flash_expanded else "native"}
                try:
                    rec["peak_bytes"] = peak_bytes(lambda: fn(q, k, v))
                    ms = do_bench(lambda: fn(q, k, v), warmup=50, rep=300, return_mode="median")
                    rec.update(ms=round(ms, 4), tflops=round(flops / ms * 1e-9, 1))
                except torch.OutOfMemoryError:
                    rec.update(ms=None, tflops=None, peak_bytes=None, error="out of memory")
                torch.cuda.empty_cache()
                log(impl, name, n, rec.get("ms"))
                out.append(rec)
            del q, k, v
            torch.cuda.empty_cache()
    return out


def decode_records():
    out = []
    for name, n_head, n_head_kv, d in PREFILL_SHAPES:
        for batch in DECODE_BATCH:
            for length in DECODE_LEN:
                kv_bytes = batch * n_head_kv * length * 2 * d * 2
                # Several input sets when one would sit in L2 (as cab_attention_bench does).
                rotations = min(8, 1 + (256 << 20) // kv_bytes)
                sets = [(torch.randn(batch, n_head, 1, d, device="cuda", dtype=torch.bfloat16),
                         torch.randn(batch, n_head_kv, length, d, device="cuda",
                                     dtype=torch.bfloat16),
                         torch.randn(batch, n_head_kv, length, d, device="cuda",
                                     dtype=torch.bfloat16)) for _ in range(rotations)]

                def run():
                    for q, k, v in sets:
                        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)

                us = 1000 * do_bench_cudagraph(run, rep=200, return_mode="median") / rotations
                out.append({"op": "decode", "impl": "torch_sdpa", "shape": name,
                            "n_head": n_head, "n_head_kv": n_head_kv, "head_dim": d,
                            "scores": False, "batch": batch, "kv_len": length,
                            "us": round(us, 2), "kv_bytes": kv_bytes,
                            "gbps": round(kv_bytes / us * 1e-3), "rotations": rotations})
                log("sdpa decode", name, batch, length, round(us, 2))
                del sets
                torch.cuda.empty_cache()
    return out


def copy_record():
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda").fill_(1)
    b = torch.empty_like(a)
    ms = do_bench(lambda: b.copy_(a), warmup=50, rep=300, return_mode="median")
    return {"op": "copy", "impl": "torch_copy", "bytes": n, "ms": round(ms, 4),
            "gbps": round(2 * n / ms * 1e-6)}


def main():
    only = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--only" else ""
    records = [copy_record()]
    if only != "decode":
        records += prefill_records()
    if only != "prefill":
        records += decode_records()
    json.dump({"torch": torch.__version__, "records": records}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
