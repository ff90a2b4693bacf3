#!/usr/bin/env python3
"""Independent reference for stories260K: llama2.c's run.c (forward pass, BPE encoder, greedy
sampling, piece decoding) re-implemented in numpy, reading the llama2.c checkpoint and tokenizer
directly (not the GGUF conversion). Prints the prompt tokens, the greedy continuation and its
text; tests/test_forward.cpp holds the numbers it printed.

Requirements (pip): numpy.
Usage: python3 tools/golden/stories260k_reference.py [--dir ../shared/models/stories260K]
       [--prompt "Once upon a time"] [--steps 30]
"""
import argparse
import pathlib
import struct

import numpy as np


def load_checkpoint(path):
    data = pathlib.Path(path).read_bytes()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    f = np.frombuffer(data, dtype="<f4", offset=28)
    head = dim // n_heads
    kv_dim = n_kv_heads * head
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = f[off:off + n].reshape(shape)
        off += n
        return a

    w = {"emb": take(vocab, dim), "rms_att": take(n_layers, dim), "wq": take(n_layers, dim, dim),
         "wk": take(n_layers, kv_dim, dim), "wv": take(n_layers, kv_dim, dim),
         "wo": take(n_layers, dim, dim), "rms_ffn": take(n_layers, dim),
         "w1": take(n_layers, hidden, dim), "w2": take(n_layers, dim, hidden),
         "w3": take(n_layers, hidden, dim), "rms_final": take(dim)}
    off += seq_len * head // 2 * 2  # freq_cis_real, freq_cis_imag
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads,
               n_kv_heads=n_kv_heads, vocab=vocab, seq_len=seq_len, head=head)
    return cfg, w


def load_tokenizer(path, vocab):
    data = pathlib.Path(path).read_bytes()
    off = 4  # max_token_length
    pieces, scores = [], []
    for _ in range(vocab):
        score, length = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + length])
        off += length
        scores.append(score)
    return pieces, scores


def encode(text, pieces, scores):
    """run.c encode(): BOS, dummy prefix, code points (byte fallback), then best-score merges."""
    lookup = {p: i for i, p in enumerate(pieces)}
    tokens = [1]
    if text:
        tokens.append(lookup[b" "])
    for ch in text:
        b = ch.encode("utf-8")
        if b in lookup:
            tokens.append(lookup[b])
        else:
            tokens += [x + 3 for x in b]
    while True:
        best, best_id, best_i = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            merged = pieces[tokens[i]] + pieces[tokens[i + 1]]
            j = lookup.get(merged)
            if j is not None and scores[j] > best:
                best, best_id, best_i = scores[j], j, i
        if best_i < 0:
            break
        tokens[best_i:best_i + 2] = [best_id]
    return tokens


def rmsnorm(x, w):
    x = x.astype(np.float32)
    return (x / np.sqrt(np.mean(x * x) + 1e-5)).astype(np.float32) * w


def forward(cfg, w, token, pos, kcache, vcache):
    head, n_heads, n_kv = cfg["head"], cfg["n_heads"], cfg["n_kv_heads"]
    x = w["emb"][token].copy()
    # run.c rotates adjacent pairs (i, i+1) with frequency 10000^(-(i % head) / head).
    i = np.arange(0, head, 2)
    ang = pos * (1.0 / 10000.0 ** (i / head))
    cos, sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    def rope(v):
        v = v.reshape(-1, head // 2, 2)
        a, b = v[..., 0], v[..., 1]
        return np.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(-1)

    for l in range(cfg["n_layers"]):
        xb = rmsnorm(x, w["rms_att"][l])
        q = rope(w["wq"][l] @ xb)
        k = rope(w["wk"][l] @ xb)
        v = w["wv"][l] @ xb
        kcache[l, pos], vcache[l, pos] = k, v
        out = np.zeros(cfg["dim"], dtype=np.float32)
        for h in range(n_heads):
            g = h // (n_heads // n_kv)
            qh = q[h * head:(h + 1) * head]
            ks = kcache[l, :pos + 1, g * head:(g + 1) * head]
            vs = vcache[l, :pos + 1, g * head:(g + 1) * head]
            s = ks @ qh / np.sqrt(head)
            p = np.exp(s - s.max())
            p /= p.sum()
            out[h * head:(h + 1) * head] = p @ vs
        x = x + w["wo"][l] @ out
        xb = rmsnorm(x, w["rms_ffn"][l])
        h1 = w["w1"][l] @ xb
        x = x + w["w2"][l] @ ((h1 / (1.0 + np.exp(-h1))) * (w["w3"][l] @ xb))
    return w["wcls"] @ rmsnorm(x, w["rms_final"])


def piece_text(pieces, prev, tok):
    p = pieces[tok]
    if prev == 1 and p.startswith(b" "):
        p = p[1:]
    if p.startswith(b"<0x") and p.endswith(b">") and len(p) == 6:
        return bytes([int(p[3:5], 16)])
    return p


def main():
    ap = argparse.ArgumentParser()
    root = pathlib.Path(__file__).resolve().parents[2]
    ap.add_argument("--dir", default=str(root.parent / "shared/models/stories260K"))
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    cfg, w = load_checkpoint(pathlib.Path(args.dir) / "stories260K.bin")
    pieces, scores = load_tokenizer(pathlib.Path(args.dir) / "tok512.bin", cfg["vocab"])
    prompt = encode(args.prompt, pieces, scores)
    kv_dim = cfg["n_kv_heads"] * cfg["head"]
    kcache = np.zeros((cfg["n_layers"], cfg["seq_len"], kv_dim), dtype=np.float32)
    vcache = np.zeros_like(kcache)
    out, tok, gaps = [], None, []
    for pos in range(len(prompt) + args.steps - 1):
        tok = prompt[pos] if pos < len(prompt) else out[-1]
        logits = forward(cfg, w, tok, pos, kcache, vcache)
        if pos >= len(prompt) - 1:
            top2 = np.sort(logits)[-2:]
            gaps.append(float(top2[1] - top2[0]))
            out.append(int(np.argmax(logits)))
    text = b"".join(piece_text(pieces, p, t) for p, t in zip(prompt[-1:] + out[:-1], out))
    print("prompt tokens:", prompt)
    print("greedy tokens:", out)
    print("smallest top-1/top-2 logit gap:", min(gaps))
    print("text:", repr(text.decode("utf-8", errors="replace")))


if __name__ == "__main__":
    main()
