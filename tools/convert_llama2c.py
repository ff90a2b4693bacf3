#!/usr/bin/env python3
"""Converts a llama2.c checkpoint and its tokenizer (e.g. stories260K.bin + tok512.bin) to GGUF.

The result is a "llama" GGUF file as llama.cpp writes them: f32 weights under llama.cpp's tensor
names, the llama.* hyper-parameters, and a SentencePiece-style ("llama") tokenizer with tokens,
scores and token types.

llama2.c format (../shared/data/README.md): 7 int32 (dim, hidden_dim, n_layers, n_heads,
n_kv_heads, vocab_size, seq_len; vocab_size < 0 means an unshared classifier), then f32 tensors:
token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis (skipped),
wcls (only when unshared). The tokenizer: int32 max_token_length, then per token f32 score,
int32 length and the bytes; llama2.c's exporter wrote SentencePiece's U+2581 as a plain space
and BOS/EOS between newlines, which are undone here.

Usage: python3 tools/convert_llama2c.py MODEL.bin TOKENIZER.bin OUT.gguf [--name NAME]
pip requirements: gguf==0.19.0 numpy==2.4.6
"""
import argparse
import pathlib
import re
import struct
import sys

import numpy as np
from gguf import GGUFWriter, TokenType

HEADER = struct.Struct("<7i")
BYTE_TOKEN = re.compile(rb"<0x[0-9A-Fa-f]{2}>")


def read_checkpoint(path):
    data = pathlib.Path(path).read_bytes()
    if len(data) < HEADER.size:
        sys.exit(f"{path}: too short for a llama2.c header")
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = HEADER.unpack_from(data)
    shared = vocab > 0
    vocab = abs(vocab)
    if min(dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len) <= 0 or dim % n_heads:
        sys.exit(f"{path}: implausible header {HEADER.unpack_from(data)}")
    head = dim // n_heads
    kv_dim = n_kv_heads * head
    hp = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads,
              n_kv_heads=n_kv_heads, vocab=vocab, seq_len=seq_len, head=head, shared=shared)

    floats = np.frombuffer(data, dtype="<f4", offset=HEADER.size)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > floats.size:
            sys.exit(f"{path}: truncated (needs more than {HEADER.size + 4 * floats.size} bytes)")
        out = floats[pos:pos + n].reshape(shape).astype(np.float32)
        pos += n
        return out

    w = {"tok_embd": take(vocab, dim), "rms_att": take(n_layers, dim),
         "wq": take(n_layers, dim, dim), "wk": take(n_layers, kv_dim, dim),
         "wv": take(n_layers, kv_dim, dim), "wo": take(n_layers, dim, dim),
         "rms_ffn": take(n_layers, dim), "w1": take(n_layers, hidden, dim),
         "w2": take(n_layers, dim, hidden), "w3": take(n_layers, hidden, dim),
         "rms_final": take(dim)}
    take(seq_len * head // 2)  # freq_cis_real
    take(seq_len * head // 2)  # freq_cis_imag
    if not shared:
        w["wcls"] = take(vocab, dim)
    if pos != floats.size:
        sys.exit(f"{path}: {4 * (floats.size - pos)} bytes left after the last tensor")
    return hp, w


def read_tokenizer(path, vocab_size):
    data = pathlib.Path(path).read_bytes()
    pos = 4  # max_token_length
    tokens, scores, types = [], [], []
    for i in range(vocab_size):
        if pos + 8 > len(data):
            sys.exit(f"{path}: truncated at token {i}")
        score, length = struct.unpack_from("<fi", data, pos)
        pos += 8
        text = data[pos:pos + length]
        pos += length
        if i == 0:
            types.append(TokenType.UNKNOWN)
        elif i in (1, 2):
            types.append(TokenType.CONTROL)
            text = text.strip(b"\n")  # llama2.c's exporter wrote BOS/EOS as "\n<s>\n", "\n</s>\n"
        elif BYTE_TOKEN.fullmatch(text):
            types.append(TokenType.BYTE)
        else:
            types.append(TokenType.NORMAL)
            text = text.replace(b" ", "\u2581".encode())
        tokens.append(text)
        scores.append(score)
    if pos != len(data):
        sys.exit(f"{path}: {len(data) - pos} bytes left after {vocab_size} tokens")
    return tokens, scores, types


def main():
    ap = argparse.ArgumentParser(description="llama2.c checkpoint + tokenizer -> GGUF")
    ap.add_argument("model")
    ap.add_argument("tokenizer")
    ap.add_argument("out")
    ap.add_argument("--name", default=None, help="general.name (default: the model file stem)")
    args = ap.parse_args()

    hp, w = read_checkpoint(args.model)
    tokens, scores, types = read_tokenizer(args.tokenizer, hp["vocab"])

    gw = GGUFWriter(args.out, "llama")
    gw.add_name(args.name or pathlib.Path(args.model).stem)
    gw.add_context_length(hp["seq_len"])
    gw.add_embedding_length(hp["dim"])
    gw.add_block_count(hp["n_layers"])
    gw.add_feed_forward_length(hp["hidden"])
    gw.add_head_count(hp["n_heads"])
    gw.add_head_count_kv(hp["n_kv_heads"])
    gw.add_rope_dimension_count(hp["head"])
    gw.add_rope_freq_base(10000.0)
    gw.add_layer_norm_rms_eps(1e-5)
    gw.add_vocab_size(hp["vocab"])
    gw.add_file_type(0)  # all F32

    gw.add_tokenizer_model("llama")
    gw.add_token_list(tokens)
    gw.add_token_scores(scores)
    gw.add_token_types(types)
    gw.add_bos_token_id(1)
    gw.add_eos_token_id(2)
    gw.add_unk_token_id(0)
    gw.add_add_bos_token(True)
    gw.add_add_eos_token(False)
    gw.add_add_space_prefix(True)

    # llama2.c rotates adjacent pairs (2i, 2i+1) of each head, as llama.cpp's "normal" RoPE does
    # for llama GGUF files, so wq and wk are written as they are: no permutation (the permutation
    # in llama.cpp's HF converter undoes HF's rotate-half layout, which llama2.c never had).
    gw.add_tensor("token_embd.weight", w["tok_embd"])
    for i in range(hp["n_layers"]):
        gw.add_tensor(f"blk.{i}.attn_norm.weight", w["rms_att"][i])
        gw.add_tensor(f"blk.{i}.attn_q.weight", w["wq"][i])
        gw.add_tensor(f"blk.{i}.attn_k.weight", w["wk"][i])
        gw.add_tensor(f"blk.{i}.attn_v.weight", w["wv"][i])
        gw.add_tensor(f"blk.{i}.attn_output.weight", w["wo"][i])
        gw.add_tensor(f"blk.{i}.ffn_norm.weight", w["rms_ffn"][i])
        gw.add_tensor(f"blk.{i}.ffn_gate.weight", w["w1"][i])
        gw.add_tensor(f"blk.{i}.ffn_down.weight", w["w2"][i])
        gw.add_tensor(f"blk.{i}.ffn_up.weight", w["w3"][i])
    gw.add_tensor("output_norm.weight", w["rms_final"])
    if not hp["shared"]:
        gw.add_tensor("output.weight", w["wcls"])

    gw.write_header_to_file()
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()
    print(f"{args.out}: {hp}")


if __name__ == "__main__":
    main()
