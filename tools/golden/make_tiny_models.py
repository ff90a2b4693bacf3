#!/usr/bin/env python3
"""Builds the tiny random llama and qwen2 GGUF models and their golden logits.

Requirements (pip): torch, transformers, gguf==0.19.0, numpy.
torch and transformers are only needed here, on a machine that has them (the GPU machine);
the outputs are committed under tests/golden/.

For each architecture this script
  1. builds a small HF transformers model (LlamaForCausalLM / Qwen2ForCausalLM) with a fixed seed
     and re-randomises its weights at scales that make attention and RoPE matter;
  2. writes it as an F32 GGUF file the way llama.cpp's convert_hf_to_gguf.py does (llama: Q and K
     rows permuted to the interleaved RoPE pairing; qwen2: no permutation, QKV biases, tied
     output), with a minimal byte-level BPE tokenizer in the metadata;
  3. runs the HF model in float32 on the CPU: a prefill of a fixed prompt (logits of every
     position) and then decode steps through past_key_values, and writes those logits.

Golden file layout (<name>_logits.bin, little-endian):
  int32 n_vocab, n_prompt, n_decode
  int32 tokens[n_prompt + n_decode]          prompt tokens, then one token per decode step
  f32   logits[n_prompt + n_decode][n_vocab] prefill rows (one per prompt position), then the
                                              logits after each decode step
<name>_logits.json describes the same (for people).

Usage: python3 tools/golden/make_tiny_models.py --out tests/golden
"""
import argparse
import json
import math
import pathlib
import struct
import sys

import gguf
import numpy as np
import torch
import transformers

SEED = 1234
N_PROMPT = 24
N_DECODE = 4
HIDDEN = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
ROPE_THETA = 10000.0
N_CTX = 256


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tiny_vocab():
    """256 byte tokens (in byte order), a few merges, then control tokens."""
    byte_map = bytes_to_unicode()
    tokens = [byte_map[b] for b in range(256)]
    types = [gguf.TokenType.NORMAL] * 256
    merges = ["h e", "Ġ t", "Ġt he"]
    for m in merges:
        tokens.append(m.replace(" ", ""))
        types.append(gguf.TokenType.NORMAL)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens += specials
    types += [gguf.TokenType.CONTROL] * len(specials)
    return tokens, types, merges, tokens.index("<|endoftext|>")


def make_config(arch, n_vocab):
    common = dict(vocab_size=n_vocab, hidden_size=HIDDEN, intermediate_size=N_FF,
                  num_hidden_layers=N_LAYER, num_attention_heads=N_HEAD,
                  num_key_value_heads=N_HEAD_KV, max_position_embeddings=N_CTX,
                  rope_theta=ROPE_THETA, hidden_act="silu")
    if arch == "llama":
        cfg = transformers.LlamaConfig(rms_norm_eps=1e-5, tie_word_embeddings=False,
                                       attention_bias=False, mlp_bias=False, **common)
    else:
        cfg = transformers.Qwen2Config(rms_norm_eps=1e-6, tie_word_embeddings=True,
                                       use_sliding_window=False, **common)
    # transformers >= 5 keeps RoPE settings in rope_parameters.
    if hasattr(cfg, "rope_parameters"):
        cfg.rope_parameters = {"rope_type": "default", "rope_theta": ROPE_THETA}
    cfg._attn_implementation = "eager"
    return cfg


def check_rope(model):
    head_dim = HIDDEN // N_HEAD
    want = 1.0 / ROPE_THETA ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    got = model.model.rotary_emb.inv_freq.float()
    if not torch.allclose(got, want, rtol=1e-6, atol=0):
        sys.exit(f"HF model does not use rope theta {ROPE_THETA}: inv_freq {got}")


def randomize(model, seed):
    """Weights at unit-ish scales so that logits, attention patterns and RoPE all matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))


def permute_rows(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: HF half-split RoPE rows -> adjacent pairs."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def write_gguf(model, arch, path, vocab):
    tokens, types, merges, eot_id = vocab
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny-random-{arch}")
    w.add_context_length(N_CTX)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_freq_base(ROPE_THETA)
    w.add_rope_dimension_count(HIDDEN // N_HEAD)
    w.add_layer_norm_rms_eps(model.config.rms_norm_eps)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(eot_id)
    w.add_eos_token_id(eot_id)
    w.add_add_bos_token(False)

    def t(name, arr):
        w.add_tensor(name, np.ascontiguousarray(arr, dtype=np.float32))

    t("token_embd.weight", sd["model.embed_tokens.weight"])
    t("output_norm.weight", sd["model.norm.weight"])
    if not model.config.tie_word_embeddings:
        t("output.weight", sd["lm_head.weight"])
    for i in range(N_LAYER):
        p = f"model.layers.{i}."
        q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
        if arch == "llama":
            q, k = permute_rows(q, N_HEAD), permute_rows(k, N_HEAD_KV)
        b = f"blk.{i}."
        t(b + "attn_norm.weight", sd[p + "input_layernorm.weight"])
        t(b + "attn_q.weight", q)
        t(b + "attn_k.weight", k)
        t(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        t(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        if arch == "qwen2":
            t(b + "attn_q.bias", sd[p + "self_attn.q_proj.bias"])
            t(b + "attn_k.bias", sd[p + "self_attn.k_proj.bias"])
            t(b + "attn_v.bias", sd[p + "self_attn.v_proj.bias"])
        t(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        t(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        t(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        t(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def golden_logits(model, prompt, decode):
    with torch.no_grad():
        out = model(input_ids=torch.tensor([prompt]), use_cache=True)
        rows = [out.logits[0].float().numpy()]
        cache = out.past_key_values
        for tok in decode:
            out = model(input_ids=torch.tensor([[tok]]), past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            rows.append(out.logits[0].float().numpy())
        # Cross-check the cache path against one uncached forward over everything.
        full = model(input_ids=torch.tensor([prompt + decode]), use_cache=False).logits[0].numpy()
    logits = np.concatenate(rows, axis=0)
    diff = np.abs(logits - full).max() / np.abs(full).max()
    if diff > 1e-5:
        sys.exit(f"HF cached decode disagrees with the full forward: rel {diff}")
    return logits


def build(arch, out_dir, seed):
    vocab = tiny_vocab()
    n_vocab = len(vocab[0])
    torch.manual_seed(seed)
    cfg = make_config(arch, n_vocab)
    cls = transformers.LlamaForCausalLM if arch == "llama" else transformers.Qwen2ForCausalLM
    model = cls(cfg).float().eval()
    check_rope(model)
    randomize(model, seed)
    if arch == "qwen2":
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    write_gguf(model, arch, out_dir / f"tiny_{arch}.gguf", vocab)

    rng = np.random.default_rng(seed)
    prompt = [int(x) for x in rng.integers(0, n_vocab, N_PROMPT)]
    decode = [int(x) for x in rng.integers(0, n_vocab, N_DECODE)]
    logits = golden_logits(model, prompt, decode)
    with open(out_dir / f"tiny_{arch}_logits.bin", "wb") as f:
        f.write(struct.pack("<3i", n_vocab, N_PROMPT, N_DECODE))
        f.write(np.asarray(prompt + decode, dtype="<i4").tobytes())
        f.write(logits.astype("<f4").tobytes())
    index = {
        "model": f"tiny_{arch}.gguf", "arch": arch, "seed": seed, "n_vocab": n_vocab,
        "prompt_tokens": prompt, "decode_tokens": decode,
        "layout": "int32 n_vocab,n_prompt,n_decode; int32 tokens[n_prompt+n_decode]; "
                  "f32 logits[n_prompt+n_decode][n_vocab] (prefill rows, then decode steps)",
        "reference": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                     "float32, CPU, eager attention",
    }
    (out_dir / f"tiny_{arch}_logits.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"{arch}: vocab {n_vocab}, logits max |x| {np.abs(logits).max():.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parents[2] / "tests/golden"))
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for arch in ("llama", "qwen2"):
        build(arch, out, args.seed)


if __name__ == "__main__":
    main()
