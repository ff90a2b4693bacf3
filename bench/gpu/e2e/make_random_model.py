#!/usr/bin/env python3
"""Builds random-weight bf16 models shaped like Qwen2.5-0.5B and Qwen2.5-7B for the end-to-end
GPU benchmark, as an HF transformers folder (save_pretrained, safetensors) and a GGUF file of the
same weights (qwen2_gguf.py: llama.cpp's qwen2 layout, synthetic byte-level vocabulary).

The model is built from its config alone (no network), on the GPU, seeded: matrices, embeddings
and biases ~ N(0, 0.02) (HF's initializer_range), norm weights 1, so activations stay finite.
A short forward pass checks that the logits are finite before anything is written.

Requirements (pip): torch with CUDA, transformers, gguf==0.19.0, numpy. Run on the GPU machine.
usage: python3 bench/gpu/e2e/make_random_model.py --out DIR [--shapes 0.5b,7b] [--seed 0]
Writes DIR/qwen2.5-<shape>-random/ (HF) and DIR/qwen2.5-<shape>-random.gguf. A shape whose two
outputs are both there is skipped; each output is written under a temporary name and renamed
when complete, so a run cut short leaves nothing that looks finished.
"""
import argparse
import os
import pathlib
import shutil
import sys
import time

import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen2_gguf  # noqa: E402

INIT_STD = 0.02
SHAPES = {
    "0.5b": qwen2_gguf.Shape("qwen2.5-0.5b-random", n_vocab=151936, n_embd=896, n_layer=24,
                             n_head=14, n_head_kv=2, n_ff=4864, tied=True),
    "7b": qwen2_gguf.Shape("qwen2.5-7b-random", n_vocab=152064, n_embd=3584, n_layer=28,
                           n_head=28, n_head_kv=4, n_ff=18944, tied=False),
}


def log(msg):
    print(msg, flush=True)


def make_config(s):
    _, _, _, eos = qwen2_gguf.vocab(s.n_vocab)
    cfg = transformers.Qwen2Config(
        vocab_size=s.n_vocab, hidden_size=s.n_embd, intermediate_size=s.n_ff,
        num_hidden_layers=s.n_layer, num_attention_heads=s.n_head,
        num_key_value_heads=s.n_head_kv, max_position_embeddings=s.n_ctx,
        rope_theta=s.rope_theta, rms_norm_eps=s.rms_eps, tie_word_embeddings=s.tied,
        use_sliding_window=False, hidden_act="silu", initializer_range=INIT_STD,
        bos_token_id=eos, eos_token_id=eos)
    # transformers >= 5 keeps RoPE settings in rope_parameters.
    if hasattr(cfg, "rope_parameters"):
        cfg.rope_parameters = {"rope_type": "default", "rope_theta": s.rope_theta}
    return cfg


def check_rope(model, s):
    d = s.head_dim
    want = 1.0 / s.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    got = model.model.rotary_emb.inv_freq.float().cpu()
    if not torch.allclose(got, want, rtol=1e-5, atol=0):
        sys.exit(f"{s.name}: the HF model does not use rope theta {s.rope_theta}")


def build_model(s, seed):
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            model = transformers.Qwen2ForCausalLM(make_config(s))
    finally:
        torch.set_default_dtype(previous)
    # Our own init, whatever the library's default is; named_parameters lists a tied matrix once.
    g = torch.Generator(device="cuda").manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dtype != torch.bfloat16 or p.device.type != "cuda":
                sys.exit(f"{s.name}: parameter {name} is {p.dtype} on {p.device}")
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, INIT_STD, generator=g)
    model.eval()
    if s.tied and model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        sys.exit(f"{s.name}: the LM head is not tied to the embedding")
    check_rope(model, s)
    ids = torch.randint(0, s.n_vocab, (1, 64), device="cuda", generator=g)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits.float()
    if not torch.isfinite(logits).all():
        sys.exit(f"{s.name}: the random model gives non-finite logits")
    log(f"  logits of a 64-token check: std {logits.std().item():.3f}, "
        f"max |x| {logits.abs().max().item():.3f}")
    return model


def host_array(t):
    """A state-dict tensor as qwen2_gguf.write_gguf wants it: F32 vectors, bf16 bits otherwise."""
    if t.dim() == 1:
        return t.float().cpu().numpy()
    return t.contiguous().view(torch.int16).cpu().numpy().view(np.uint16)


def build(key, out, seed):
    s = SHAPES[key]
    hf_dir, gguf_path = out / s.name, out / f"{s.name}.gguf"
    if (hf_dir / "config.json").exists() and gguf_path.exists():
        log(f"{s.name}: present, skipped")
        return
    for stale in (hf_dir, out / f"{s.name}.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    gguf_path.unlink(missing_ok=True)

    t0 = time.perf_counter()
    model = build_model(s, seed)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{s.name}: {n_params / 1e9:.3f} B parameters built in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    tmp = out / f"{s.name}.tmp"
    model.save_pretrained(tmp)
    tmp.rename(hf_dir)
    log(f"  HF folder {hf_dir} in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    sd = model.state_dict()
    tmp_gguf = out / f"{s.name}.gguf.tmp"
    qwen2_gguf.write_gguf(tmp_gguf, s, lambda name: host_array(sd[name]))
    tmp_gguf.rename(gguf_path)
    log(f"  GGUF {gguf_path} ({gguf_path.stat().st_size / 1e9:.2f} GB) in "
        f"{time.perf_counter() - t0:.1f} s")
    del sd, model
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", default="0.5b,7b", help="comma-separated: " + ",".join(SHAPES))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    keys = args.shapes.split(",")
    for k in keys:
        if k not in SHAPES:
            sys.exit(f"unknown shape {k!r} (known: {', '.join(SHAPES)})")
    if not torch.cuda.is_available():
        sys.exit("make_random_model.py needs a CUDA GPU")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{torch.cuda.get_device_name()}")
    for k in keys:
        build(k, out, args.seed)


if __name__ == "__main__":
    main()
