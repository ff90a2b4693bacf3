"""Writes a qwen2 GGUF file the way llama.cpp's convert_hf_to_gguf.py does (qwen2.* metadata,
NeoX RoPE so Q/K rows keep HF's order, QKV biases, matrices in BF16 and 1-D tensors in F32),
with a synthetic byte-level BPE vocabulary of exactly n_vocab entries that libcab's loader
accepts. Tensors are fetched and written one at a time, so a 15 GB model never has a second
full copy in host memory. No torch here: make_random_model.py passes a fetch function.

Requirements (pip): gguf==0.19.0, numpy.
"""
import dataclasses
import math

import gguf
import numpy as np

# Qwen2.5's first special tokens and their ids (tokenizer_config.json of the Qwen2.5 models).
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
FIRST_SPECIAL_ID = 151643
# A few real GPT-2 merges: the loader needs tokenizer.ggml.merges, and gguf-py drops empty arrays.
MERGES = ["Ġ t", "Ġ a", "h e", "i n", "r e", "o n"]


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str
    n_vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    tied: bool
    rope_theta: float = 1e6
    rms_eps: float = 1e-6
    n_ctx: int = 32768

    @property
    def head_dim(self):
        return self.n_embd // self.n_head


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable unicode characters (as in
    tools/golden/make_tiny_models.py)."""
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


def vocab(n_vocab):
    """(tokens, types, merges, eos id): the 256 byte tokens in byte order, the merges' results,
    unused [PAD<id>] fillers (llama.cpp's name for ids the HF tokenizer lacks) and Qwen2.5's
    special tokens at their ids (or at the end of a smaller vocabulary)."""
    byte_map = bytes_to_unicode()
    tokens = [byte_map[b] for b in range(256)] + [m.replace(" ", "") for m in MERGES]
    types = [gguf.TokenType.NORMAL] * len(tokens)
    first_special = min(FIRST_SPECIAL_ID, n_vocab - len(SPECIALS))
    if first_special < len(tokens):
        raise ValueError(f"n_vocab {n_vocab} is too small for the synthetic vocabulary")
    while len(tokens) < n_vocab:
        i = len(tokens)
        if first_special <= i < first_special + len(SPECIALS):
            tokens.append(SPECIALS[i - first_special])
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    return tokens, types, list(MERGES), first_special


def hf_shapes(s):
    """HF state-dict name -> shape, for every tensor the GGUF file holds."""
    e, q, kv = s.n_embd, s.n_head * s.head_dim, s.n_head_kv * s.head_dim
    shapes = {"model.embed_tokens.weight": (s.n_vocab, e), "model.norm.weight": (e,)}
    if not s.tied:
        shapes["lm_head.weight"] = (s.n_vocab, e)
    for i in range(s.n_layer):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (e,),
            p + "self_attn.q_proj.weight": (q, e),
            p + "self_attn.k_proj.weight": (kv, e),
            p + "self_attn.v_proj.weight": (kv, e),
            p + "self_attn.q_proj.bias": (q,),
            p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (e, q),
            p + "post_attention_layernorm.weight": (e,),
            p + "mlp.gate_proj.weight": (s.n_ff, e),
            p + "mlp.up_proj.weight": (s.n_ff, e),
            p + "mlp.down_proj.weight": (e, s.n_ff),
        })
    return shapes


def tensor_names(s):
    """(GGUF name, HF name) pairs in file order, llama.cpp's qwen2 naming."""
    names = [("token_embd.weight", "model.embed_tokens.weight"),
             ("output_norm.weight", "model.norm.weight")]
    if not s.tied:
        names.append(("output.weight", "lm_head.weight"))
    for i in range(s.n_layer):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        names += [
            (b + "attn_norm.weight", p + "input_layernorm.weight"),
            (b + "attn_q.weight", p + "self_attn.q_proj.weight"),
            (b + "attn_k.weight", p + "self_attn.k_proj.weight"),
            (b + "attn_v.weight", p + "self_attn.v_proj.weight"),
            (b + "attn_q.bias", p + "self_attn.q_proj.bias"),
            (b + "attn_k.bias", p + "self_attn.k_proj.bias"),
            (b + "attn_v.bias", p + "self_attn.v_proj.bias"),
            (b + "attn_output.weight", p + "self_attn.o_proj.weight"),
            (b + "ffn_norm.weight", p + "post_attention_layernorm.weight"),
            (b + "ffn_gate.weight", p + "mlp.gate_proj.weight"),
            (b + "ffn_up.weight", p + "mlp.up_proj.weight"),
            (b + "ffn_down.weight", p + "mlp.down_proj.weight"),
        ]
    return names


def write_gguf(path, s, fetch):
    """Writes shape `s` to `path`. fetch(hf_name) returns that tensor as a numpy array in HF's
    shape: float32 for 1-D tensors, uint16 holding the bf16 bits for matrices."""
    tokens, types, merges, eos = vocab(s.n_vocab)
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name(s.name)
    w.add_context_length(s.n_ctx)
    w.add_embedding_length(s.n_embd)
    w.add_block_count(s.n_layer)
    w.add_feed_forward_length(s.n_ff)
    w.add_head_count(s.n_head)
    w.add_head_count_kv(s.n_head_kv)
    w.add_rope_freq_base(s.rope_theta)
    w.add_layer_norm_rms_eps(s.rms_eps)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(eos)
    w.add_eos_token_id(eos)
    w.add_pad_token_id(eos)
    w.add_add_bos_token(False)

    shapes = hf_shapes(s)
    names = tensor_names(s)
    for gname, hname in names:
        dims = shapes[hname]
        if len(dims) == 1:
            w.add_tensor_info(gname, dims, np.dtype(np.float32), 4 * dims[0])
        else:
            w.add_tensor_info(gname, dims, np.dtype(np.uint16), 2 * math.prod(dims),
                              raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for gname, hname in names:
        arr = fetch(hname)
        want = np.float32 if len(shapes[hname]) == 1 else np.uint16
        if arr.shape != shapes[hname] or arr.dtype != want:
            raise ValueError(f"{hname}: got {arr.dtype} {arr.shape}, expected "
                             f"{np.dtype(want)} {shapes[hname]}")
        w.write_tensor_data(np.ascontiguousarray(arr))
    w.close()
