#!/usr/bin/env python3
"""Writes the fuzz_gguf seed corpus: tiny models that cab_model_load accepts, and variants of
them that each break one rule of the format (docs/RELIABILITY.md). With --tokenizer, writes the
two models fuzz_tokenizer loads and its seed corpus of texts instead.

Standard library only. The models are random-weight llama and qwen2 files of a few kilobytes
(gpt2 and llama tokenizers; F32, F16 and Q8_0 weights), so that the fuzzer starts from inputs
that reach every stage of a load: header, metadata, tensor table, hyper-parameters, tokenizer,
weight checks and conversion. With --api, writes the model fuzz_api loads (two layers, two kv
heads of two query heads each) and its seed corpus of C API call sequences.

Usage: python3 tests/fuzz/make_seeds.py OUT_DIR
       python3 tests/fuzz/make_seeds.py --tokenizer MODEL_DIR CORPUS_DIR
       python3 tests/fuzz/make_seeds.py --api MODEL_DIR CORPUS_DIR
"""
import pathlib
import random
import struct
import sys

ALIGN = 32
# GGUF metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
# ggml tensor types
T_F32, T_F16, T_Q8_0 = 0, 1, 8

SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
              BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def value(vtype, v):
    if vtype == STR:
        return gguf_str(v)
    if vtype == ARR:
        etype, items = v
        out = struct.pack("<IQ", etype, len(items))
        return out + b"".join(value(etype, x) for x in items)
    return struct.pack(SCALAR_FMT[vtype], v)


def tensor_bytes(ttype, values):
    if ttype == T_F32:
        return struct.pack(f"<{len(values)}f", *values)
    if ttype == T_F16:
        return struct.pack(f"<{len(values)}e", *values)
    out = b""  # Q8_0: blocks of 32, an f16 scale then 32 int8
    for i in range(0, len(values), 32):
        block = values[i:i + 32]
        scale = max(abs(x) for x in block) / 127 or 1.0
        out += struct.pack("<e", scale) + bytes((round(x / scale) & 0xFF) for x in block)
    return out


def gguf_file(kvs, tensors):
    """kvs: [(key, type, value)]; tensors: [(name, shape (ggml order), ttype, values)]."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, vtype, v in kvs:
        out += gguf_str(key) + struct.pack("<I", vtype) + value(vtype, v)
    data = b""
    for name, shape, ttype, values in tensors:
        data += b"\0" * (-len(data) % ALIGN)
        out += gguf_str(name) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", n) for n in shape)
        out += struct.pack("<IQ", ttype, len(data))
        data += tensor_bytes(ttype, values)
    out += b"\0" * (-len(out) % ALIGN)
    return out + data


def gpt2_byte_chars():
    """GPT-2's byte-to-character table: printable bytes stand for themselves, the rest are
    shifted past U+0100."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, shift = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(0x100 + shift)
            shift += 1
    return [chars[b] for b in range(256)]


def full_bpe_vocab():
    """A byte-level BPE vocabulary that can spell every byte, so that encode then decode gives
    back any text: the 256 byte characters, a few merges, control and user-defined tokens."""
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ã ©", "â Ĥ", "âĤ ¬"]
    tokens = gpt2_byte_chars()
    for m in merges:
        tokens.append(m.replace(" ", ""))
    tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"]
    types = [1] * (len(tokens) - 4) + [3, 3, 3, 4]
    return tokens, types, [("tokenizer.ggml.merges", ARR, (STR, merges)),
                           ("tokenizer.ggml.pre", STR, "qwen2")]


def model(arch, tokenizer, ttype, n_embd, n_ff, seed, vocab=None, n_layer=1, n_head=2,
          n_head_kv=1):
    rng = random.Random(seed)
    head_dim = n_embd // n_head
    if vocab is not None:
        tokens, types, extra = vocab
    elif tokenizer == "gpt2":
        tokens = ["a", "b", "c", "Ġ", "ab", "Ġa", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        types = [1] * 6 + [3] * 3
        extra = [("tokenizer.ggml.merges", ARR, (STR, ["a b", "Ġ a"])),
                 ("tokenizer.ggml.pre", STR, "qwen2" if arch == "qwen2" else "default")]
    else:
        tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a"] + [f"<0x{b:02X}>" for b in range(8)]
        types = [2, 3, 3, 1, 1, 1, 1] + [6] * 8
        extra = [("tokenizer.ggml.scores", ARR, (F32, [-float(i) for i in range(len(tokens))])),
                 ("tokenizer.ggml.unknown_token_id", U32, 0),
                 ("tokenizer.ggml.bos_token_id", U32, 1)]
    n_vocab = len(tokens)
    a = arch + "."
    kvs = [("general.architecture", STR, arch), ("general.name", STR, "fuzz-seed"),
           ("general.alignment", U32, ALIGN),
           (a + "context_length", U32, 64), (a + "embedding_length", U32, n_embd),
           (a + "block_count", U32, n_layer), (a + "feed_forward_length", U32, n_ff),
           (a + "attention.head_count", U32, n_head),
           (a + "attention.head_count_kv", U32, n_head_kv),
           (a + "rope.freq_base", F32, 10000.0), (a + "rope.dimension_count", U32, head_dim),
           (a + "attention.layer_norm_rms_epsilon", F32, 1e-5),
           ("tokenizer.ggml.model", STR, tokenizer),
           ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
           ("tokenizer.ggml.token_type", ARR, (I32, types)),
           ("tokenizer.ggml.eos_token_id", U32, tokens.index("</s>" if tokenizer == "llama"
                                                             else "<|endoftext|>")),
           ("tokenizer.chat_template", STR, "{% for m in messages %}<|im_start|>{% endfor %}")]
    kvs += extra

    def t(name, shape, kind=ttype):
        n = 1
        for d in shape:
            n *= d
        vals = [1.0 + 0.1 * rng.uniform(-1, 1) for _ in range(n)] if len(shape) == 1 else \
            [rng.uniform(-1, 1) for _ in range(n)]
        return (name, shape, kind if len(shape) == 2 else T_F32, vals)

    q, kv = n_head * head_dim, n_head_kv * head_dim
    tensors = [t("token_embd.weight", [n_embd, n_vocab]), t("output_norm.weight", [n_embd])]
    if arch == "llama":
        tensors.append(t("output.weight", [n_embd, n_vocab]))
    for i in range(n_layer):
        b = f"blk.{i}."
        tensors += [t(b + "attn_norm.weight", [n_embd]), t(b + "attn_q.weight", [n_embd, q]),
                    t(b + "attn_k.weight", [n_embd, kv]), t(b + "attn_v.weight", [n_embd, kv])]
        if arch == "qwen2":
            tensors += [t(b + "attn_q.bias", [q]), t(b + "attn_k.bias", [kv]),
                        t(b + "attn_v.bias", [kv])]
        tensors += [t(b + "attn_output.weight", [q, n_embd]), t(b + "ffn_norm.weight", [n_embd]),
                    t(b + "ffn_gate.weight", [n_embd, n_ff]), t(b + "ffn_up.weight", [n_embd, n_ff]),
                    t(b + "ffn_down.weight", [n_ff, n_embd])]
    return kvs, tensors


def patched(data, offset, fmt, v):
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, v)
    return bytes(out)


def kv_edit(kvs, key, vtype, v):
    return [(k, vtype, v) if k == key else (k, t, x) for k, t, x in kvs]


TEXT_SEEDS = {
    "ascii": b"Hello, world! The quick brown fox.",
    "spaces": b"  a  \t\n\n the\r\n  ",
    "digits_punct": b"1234567 + 89 = ?! ... 'll 've",
    "utf8_mixed": "café €5 — naïve 日本語 🙂".encode(),
    "utf8_four_byte": "𝄞🎉🙂".encode(),
    "invalid_utf8": b"a\xff\xfeb\xc3(\xe2\x82\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf",
    "truncated_utf8": b"x\xe2\x82",
    "chatml": b"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "special_partial": b"<|im_sta <|im_end <|endoftext|><|im_end|>",
    "user_defined": b"call <tool> then <tool><tool>",
    "nul_bytes": b"a\x00b\x00\x00",
    "empty": b"",
    # A longer text, so that libFuzzer's length limit starts past a few dozen bytes.
    "paragraph": ("In the beginning the theory was inert; then the interpreter ran. " * 4 +
                  "Prix: 12,50 € — déjà vu, 東京, Ελληνικά, русский 🙂\n" * 3 +
                  "<|im_start|>system\nYou are <tool> helpful.<|im_end|>\n").encode(),
}


def write_tokenizer_seeds(model_dir, corpus_dir):
    model_dir.mkdir(parents=True, exist_ok=True)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "bpe.gguf").write_bytes(
        gguf_file(*model("qwen2", "gpt2", T_F32, 8, 16, 4, vocab=full_bpe_vocab())))
    (model_dir / "spm.gguf").write_bytes(gguf_file(*model("llama", "llama", T_F32, 8, 16, 5)))
    for name, text in TEXT_SEEDS.items():
        (corpus_dir / f"{name}.txt").write_bytes(text)


# fuzz_api input (tests/fuzz/api_input.h): one byte per argument; a byte below 0xF0 is a value
# in a normal range counted from its low end, 0xF0 and up picks an odd value.
API_N_VOCAB = 9
OPS = {name: i for i, name in enumerate(
    ["create", "prefill", "decode", "logits", "sample", "sampler", "length", "reset", "copy",
     "stats", "lengths", "positions", "scores", "evict", "destroy"])}
POLICIES = ["full", "random", "window", "h2o", "tova", "snapkv", "cab", "cab-frc", "chunkkv",
            "", "CAB", "h2o ", "nope", None]
ODD = 0xF0


def evict_args(policy="h2o", ratio=None, tokens=8, sinks=1, recent=2, selection=0,
               allocation=0, min_budget=1, source=0, shape=0, normalize=0, kernel=5, shift=0):
    """cab_evict_params: budget in tokens, or a ratio (a share in [0, 1])."""
    unit, ratio_byte = (0, 0) if ratio is None else (1, round(ratio * 239))
    return bytes([shape, POLICIES.index(policy), unit, tokens, ratio_byte, sinks, recent,
                  selection, allocation, min_budget, 76, 7, normalize, 48, 8 - 1,
                  (kernel - 1) // 2, shift, 143, 96, source, 4 - 1, 8 - 1, 4 - 1])


def ctx_args(n_seq=1, capacity=64, block=4, chunk=16, slack=8, window=8, evict=None, shape=0,
             misuse=0, raw=None):
    """cab_ctx_create's arguments; `raw` replaces the field bytes (odd values)."""
    fields = raw or [0, n_seq - 1, 0, capacity - 1, block - 1, 0, chunk - 1, slack - 1,
                     window - 1]
    return bytes([misuse, shape] + fields + ([0] if evict is None else [1])) + (evict or b"")


def op(name, *args):
    return bytes([OPS[name]]) + b"".join(a if isinstance(a, bytes) else bytes(a) for a in args)


def prefill(seq, tokens):
    return op("prefill", [seq, len(tokens)], [t % API_N_VOCAB for t in tokens])


def decode(*pairs):
    return op("decode", [len(pairs) - 1], [x for p in pairs for x in p])


def stream_ops(seq):
    return (op("stats", [seq, 0, 0]) + op("lengths", [seq, 5]) +
            op("positions", [seq, 1, 1, 64, 0]) + op("scores", [seq, 0, 1, 64, 2]))


def api_seeds():
    rng = random.Random(7)

    def words(n):
        return [rng.randrange(API_N_VOCAB) for _ in range(n)]

    seeds = {}
    seeds["basic"] = (ctx_args(n_seq=2) + prefill(0, words(10)) + op("logits", [0, 0]) +
                      op("sample", [0, 0]) + decode((0, 3)) + op("copy", [0, 1]) +
                      decode((0, 1), (1, 2)) + stream_ops(0) + stream_ops(1) +
                      op("evict", [0, 0], evict_args("h2o", tokens=4)) + decode((0, 5)) +
                      op("logits", [0, 0]) + op("reset", [1]) + op("length", [1, 0]) +
                      op("destroy"))
    # A pool of 8 blocks of 4 tokens per stream for two sequences: prefills and decodes until
    # KV_FULL, then a copy that cannot fit, a reset and a copy that can.
    seeds["kv_full"] = (ctx_args(n_seq=2, capacity=32, block=4) + prefill(0, words(12)) +
                        prefill(1, words(8)) + decode((0, 1), (1, 2)) * 5 + op("copy", [0, 1]) +
                        op("reset", [1]) + op("copy", [0, 1]) + prefill(0, words(17)) +
                        stream_ops(1))
    seeds["auto_evict_tokens"] = (
        ctx_args(capacity=64, block=4, chunk=8, slack=4, evict=evict_args("cab", tokens=8)) +
        prefill(0, words(30)) + decode((0, 1)) * 20 + stream_ops(0))
    seeds["auto_evict_ratio_snapkv"] = (
        ctx_args(n_seq=2, capacity=96, block=8, chunk=16, slack=6,
                 evict=evict_args("snapkv", ratio=0.5)) +
        prefill(0, words(40)) + op("copy", [0, 1]) + decode((0, 2), (1, 3)) * 6 + stream_ops(1))
    seeds["auto_evict_window_h2o"] = (
        ctx_args(capacity=48, block=2, chunk=5, slack=3, window=4,
                 evict=evict_args("h2o", tokens=6, source=1)) +
        prefill(0, words(48)) + decode((0, 4)) * 4 + stream_ops(0))
    # Every policy on its own copy of one prompt, with the three budget allocations.
    every = ctx_args(n_seq=4, capacity=200, block=4) + prefill(0, words(24))
    for i, policy in enumerate(POLICIES[:9]):
        dst = 1 + i % 3
        every += (op("copy", [0, dst]) +
                  op("evict", [dst, 0], evict_args(policy, tokens=6, allocation=i % 3)) +
                  decode((dst, i)) + stream_ops(dst))
    seeds["every_policy"] = every
    # Per-head eviction makes the two heads of a layer differ: shared selection then refuses
    # (STATE). Reports of the first release's size and none.
    seeds["shared_selection"] = (
        ctx_args(capacity=64, block=4) + prefill(0, words(20)) +
        op("evict", [0, 0], evict_args("h2o", tokens=16, selection=1)) +
        op("evict", [0, 7], evict_args("tova", tokens=12, allocation=1)) +
        op("evict", [0, 5], evict_args("random", ratio=0.75)) +
        op("evict", [0, 0], evict_args("snapkv", tokens=5, selection=1)) + stream_ops(0))
    seeds["sampler"] = (
        ctx_args() + prefill(0, words(6)) +
        op("sampler", [0, 48, 5, 24, 12, 12, 16, 3]) + op("sample", [0, 1]) * 3 +
        op("sampler", [0, 0, 0, 0, 0, 0, 0, 0]) + op("sample", [0, 1]) +
        op("sampler", [0, 30, 0, 0, 0, 0, 0, 9]) + op("sample", [0, 1]) +
        op("sampler", [15, 0, 0, 0, 0, 0, 0, 0]) + op("sample", [0, 1]) +
        op("sampler", [0, ODD, 0, 0, 0, 0, 0, 0]) + op("sample", [1, 0]))
    # Odd arguments: struct sizes, params out of range, calls on no context, bad tokens and
    # sequences, NULL arrays, unknown policies.
    seeds["misuse"] = (
        ctx_args(raw=[ODD, ODD, ODD, ODD, ODD, ODD, ODD, ODD, ODD]) + op("prefill", [0, 1, 0]) +
        op("create", ctx_args(shape=13)) + op("create", ctx_args(shape=14)) +
        op("create", ctx_args(misuse=14)) + op("create", ctx_args(misuse=15)) +
        op("create", ctx_args(shape=12)) + op("create", ctx_args(shape=15)) +
        op("create", ctx_args(n_seq=2, evict=evict_args("nope"))) +
        op("create", ctx_args(n_seq=2, evict=evict_args("cab", tokens=60))) +
        op("create", ctx_args(n_seq=2)) +
        op("prefill", [0, 3, ODD, 1, 2]) + op("prefill", [0, ODD, 1, 1, 1]) +
        op("prefill", [0, 0]) +
        op("prefill", [2, 1, 1]) + op("prefill", [ODD + 1, 1, 1]) +
        op("decode", [ODD + 1, 0, 1]) + op("decode", [ODD + 2, 0, 1, 1, 1]) + op("decode", [ODD]) +
        op("decode", [1, 0, 1, 0, 2]) + op("decode", [2, 0, 1, 1, 1, 0, 2]) +
        op("logits", [0, 0]) + op("logits", [0, ODD]) + op("sample", [0, ODD]) +
        op("evict", [0, 0], evict_args(None)) + op("evict", [0, 6], evict_args("cab")) +
        op("evict", [0, 0], evict_args("h2o", normalize=1, source=1)) +
        op("evict", [0, 0], evict_args("snapkv", kernel=3, shift=2)) +
        op("copy", [0, 0]) + op("copy", [0, 2]) + op("reset", [ODD]) +
        op("stats", [ODD, 0, 0]) + op("stats", [0, 4, 9]) + op("stats", [0, 5, 0]) +
        op("stats", [0, 6, 0]) + op("stats", [0, 7, 0]) +
        op("lengths", [0, ODD]) + op("lengths", [0, ODD + 1]) + op("lengths", [0, ODD + 2]) +
        op("positions", [0, 2, 0, 4, 0]) + op("positions", [0, 0, ODD, 4, 0]) +
        op("positions", [0, 0, 0, ODD + 1, 0]) + op("scores", [0, 0, 0, ODD + 1, 7]))
    return seeds


def write_api_seeds(model_dir, corpus_dir):
    model_dir.mkdir(parents=True, exist_ok=True)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "api.gguf").write_bytes(gguf_file(*model(
        "llama", "gpt2", T_F32, 16, 32, 6, n_layer=2, n_head=4, n_head_kv=2)))
    for name, data in api_seeds().items():
        (corpus_dir / f"{name}.bin").write_bytes(data)


def main():
    if sys.argv[1] == "--tokenizer":
        write_tokenizer_seeds(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]))
        return
    if sys.argv[1] == "--api":
        write_api_seeds(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]))
        return
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    seeds = {}
    llama = model("llama", "gpt2", T_F32, 8, 16, 1)
    seeds["llama_gpt2_f32"] = gguf_file(*llama)
    seeds["qwen2_gpt2_f16"] = gguf_file(*model("qwen2", "gpt2", T_F16, 8, 16, 2))
    seeds["llama_spm_q8_0"] = gguf_file(*model("llama", "llama", T_Q8_0, 32, 32, 3))

    base = seeds["llama_gpt2_f32"]
    kvs, tensors = llama
    # Metadata only: every value type, nested arrays.
    seeds["metadata_all_types"] = gguf_file(
        [("u8", U8, 255), ("i8", I8, -1), ("u16", U16, 65535), ("i16", I16, -2),
         ("u32", U32, 1 << 31), ("i32", I32, -3), ("f32", F32, 0.5), ("bool", BOOL, True),
         ("str", STR, "x"), ("u64", U64, 1 << 63), ("i64", I64, -4), ("f64", F64, 2.5),
         ("bools", ARR, (BOOL, [True, False])), ("u64s", ARR, (U64, [1, 2])),
         ("nested", ARR, (ARR, [(I8, [1, -1]), (STR, ["y"])]))], [])
    # Truncated at the header, in the metadata, in the tensor table and in the data.
    for cut in (3, 20, 200, len(base) // 2, len(base) - 1):
        seeds[f"truncated_{cut}"] = base[:cut]
    # Counts that no file of this size can hold.
    seeds["huge_tensor_count"] = patched(base, 8, "<Q", (1 << 63) + 5)
    seeds["huge_metadata_count"] = patched(base, 16, "<Q", 1 << 40)
    seeds["huge_key_length"] = patched(base, 24, "<Q", (1 << 64) - 1)
    seeds["huge_array_count"] = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_str("a") + \
        struct.pack("<IIQ", ARR, U32, 1 << 62) + b"\1" * 12
    seeds["version_big_endian"] = patched(base, 4, "<I", 0x03000000)
    # Tensor table: misaligned and out-of-range offsets, bad dims, unknown and unloadable types.
    def one_tensor(shape, ttype, offset, data_len, align_kv=None):
        kv = [] if align_kv is None else [("general.alignment", U32, align_kv)]
        head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv))
        head += b"".join(gguf_str(k) + struct.pack("<I", t) + value(t, v) for k, t, v in kv)
        head += gguf_str("w") + struct.pack("<I", len(shape))
        head += b"".join(struct.pack("<Q", n) for n in shape) + struct.pack("<IQ", ttype, offset)
        return head + b"\0" * (-len(head) % ALIGN) + b"\x01" * data_len
    seeds["tensor_misaligned"] = one_tensor([4], T_F32, 4, 64)
    seeds["tensor_past_end"] = one_tensor([16], T_F32, 32, 64)
    seeds["tensor_offset_huge"] = one_tensor([4], T_F32, (1 << 64) - 32, 64)
    seeds["tensor_ne_overflow"] = one_tensor([1 << 32, 1 << 32], T_F32, 0, 64)
    seeds["tensor_five_dims"] = one_tensor([1, 1, 1, 1, 1], T_F32, 0, 64)
    seeds["tensor_unknown_type"] = one_tensor([4], 1000, 0, 64)
    seeds["tensor_iq2_type"] = one_tensor([256], 16, 0, 64)
    seeds["tensor_q8_0_partial_block"] = one_tensor([33], T_Q8_0, 0, 64)
    seeds["alignment_not_pow2"] = one_tensor([4], T_F32, 0, 64, align_kv=48)
    # Hyper-parameters that disagree with the tensors. (A block count far above the tensor
    # table is corpus/gguf/regress_block_count_huge.gguf, a fixed finding.)
    seeds["head_count_zero"] = gguf_file(kv_edit(kvs, "llama.attention.head_count", U32, 0),
                                         tensors)
    seeds["embd_mismatch"] = gguf_file(kv_edit(kvs, "llama.embedding_length", U32, 16), tensors)
    seeds["eos_out_of_vocab"] = gguf_file(kv_edit(kvs, "tokenizer.ggml.eos_token_id", U32, 99),
                                          tensors)
    seeds["merge_unknown_token"] = gguf_file(
        kv_edit(kvs, "tokenizer.ggml.merges", ARR, (STR, ["a z", "nospace"])), tensors)
    seeds["duplicate_tensor"] = gguf_file(kvs, tensors + [tensors[1]])

    for name, data in seeds.items():
        (out / f"{name}.gguf").write_bytes(data)


if __name__ == "__main__":
    main()
