#!/usr/bin/env python3
"""Independent numpy forward pass of a llama-architecture GGUF model (weights dequantized by the
reference `gguf` package), for checking libcab's logits on real quantized models.

It follows llama.cpp's reading of llama GGUF files: Q/K rows were permuted by the converter, so
RoPE rotates adjacent pairs (2i, 2i+1). Prints the logits of the last prompt token (or writes
them as raw little-endian f32 with --out).

Requirements (pip): numpy, gguf.
Usage: python3 tools/golden/gguf_llama_reference.py MODEL.gguf --tokens 1,2,3 [--out FILE]
"""
import argparse

import gguf
import numpy as np


def tensor(reader, name):
    t = next((t for t in reader.tensors if t.name == name), None)
    if t is None:
        return None
    data = gguf.quants.dequantize(t.data, t.tensor_type)
    return np.asarray(data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])


def field(reader, key):
    f = reader.fields[key]
    v = f.parts[f.data[0]]
    return v.tobytes().decode() if f.types[0] == gguf.GGUFValueType.STRING else v[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    r = gguf.GGUFReader(args.model)
    arch = field(r, "general.architecture")
    assert arch == "llama", arch
    n_layer = int(field(r, f"{arch}.block_count"))
    n_head = int(field(r, f"{arch}.attention.head_count"))
    n_kv = int(field(r, f"{arch}.attention.head_count_kv"))
    eps = float(field(r, f"{arch}.attention.layer_norm_rms_epsilon"))
    theta = float(field(r, f"{arch}.rope.freq_base")) if f"{arch}.rope.freq_base" in r.fields else 1e4
    emb = tensor(r, "token_embd.weight")
    out_w = tensor(r, "output.weight")
    out_w = emb if out_w is None else out_w
    tokens = [int(x) for x in args.tokens.split(",")]
    n, d_model = len(tokens), emb.shape[1]
    hd = d_model // n_head
    x = emb[tokens].astype(np.float64)

    def norm(v, w):
        return v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + eps) * w

    pos = np.arange(n)[:, None]
    ang = pos / theta ** (np.arange(0, hd, 2) / hd)
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(m, heads):
        m = m.reshape(n, heads, hd // 2, 2)
        a, b = m[..., 0], m[..., 1]
        c, s = cos[:, None, :], sin[:, None, :]
        return np.stack([a * c - b * s, a * s + b * c], axis=-1).reshape(n, heads, hd)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(n_layer):
        p = f"blk.{l}."
        h = norm(x, tensor(r, p + "attn_norm.weight"))
        q = rope(h @ tensor(r, p + "attn_q.weight").T, n_head)
        k = rope(h @ tensor(r, p + "attn_k.weight").T, n_kv)
        v = (h @ tensor(r, p + "attn_v.weight").T).reshape(n, n_kv, hd)
        att = np.zeros((n, n_head, hd))
        for hh in range(n_head):
            g = hh // (n_head // n_kv)
            s = q[:, hh] @ k[:, g].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            att[:, hh] = (s / s.sum(axis=1, keepdims=True)) @ v[:, g]
        x = x + att.reshape(n, -1) @ tensor(r, p + "attn_output.weight").T
        h = norm(x, tensor(r, p + "ffn_norm.weight"))
        gate = h @ tensor(r, p + "ffn_gate.weight").T
        up = h @ tensor(r, p + "ffn_up.weight").T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ tensor(r, p + "ffn_down.weight").T
    logits = norm(x[-1], tensor(r, "output_norm.weight")) @ out_w.T
    if args.out:
        logits.astype("<f4").tofile(args.out)
    top = np.argsort(-logits)[:5]
    print("top5:", [(int(t), round(float(logits[t]), 4)) for t in top])


if __name__ == "__main__":
    main()
