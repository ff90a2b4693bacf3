#!/usr/bin/env python3
"""Reference tokenizations that tests/test_tokenizer.cpp compares libcab's tokenizers against.

SmolLM2 (byte-level BPE): the reference is HF `tokenizers`, configured as SmolLM2's published
tokenizer.json (BPE over the byte-level alphabet; pre-tokenizer Sequence[Digits(individual_digits=
True), ByteLevel(add_prefix_space=False, use_regex=True)]; ByteLevel decoder; the CONTROL tokens
added as special tokens) and filled with the vocabulary and merges of the GGUF file (read with
gguf-py). When `transformers` is installed, its own GGUF tokenizer conversion
(AutoTokenizer.from_pretrained(dir, gguf_file=...)) is cross-checked against it on the same
inputs; the agreement is printed (it is a report, not a reference: transformers ignores
tokenizer.ggml.pre).

Pre-tokenizers: HF `tokenizers` splits of the hard strings with the regexes of GPT-2, SmolLM2,
Qwen2 and Llama 3 (Split(Regex, "isolated") as in their tokenizer.json files).

stories260K (SentencePiece-style, llama2.c): llama2.c's own encoder (run.c `encode`: the dummy
prefix space, code point lookup with byte fallback, then merging the best-scoring adjacent pair,
leftmost first, until none is left), transcribed to Python and run on tok512.bin itself, so the
GGUF converter is checked too.

Outputs (--out-dir, default models/ref):
  smollm2_essays.txt      <essay file name>\t<ids>            plain text, no BOS
  smollm2_hard.txt        <S|P>\t<hex of UTF-8 input>\t<ids>\t<hex of the decoded ids>
                          S: special tokens parsed, P: plain. SmolLM2's vocabulary lacks 21 of
                          the 256 byte characters (e.g. for U+0004): HF drops those bytes.
  pretok_hard.txt         <gpt2|smollm|qwen2|llama3>\t<hex input>\t<hex piece> <hex piece>...
  stories260K_essays.txt  <essay file name>\t<ids>            no BOS, with the dummy prefix
  stories260K_hard.txt    <hex of input bytes>\t<ids>          (may hold invalid UTF-8)
  chat_templates.txt      T\t<name>\t<hex of the Jinja template>, then one line per case:
                          C\t<name>\t<add_assistant 0|1>\t<role>=<hex content>,...\t<hex text>
Chat references are the templates rendered by jinja2 as transformers' apply_chat_template does
(sandboxed, trim_blocks, lstrip_blocks), with bos_token "" (libcab leaves BOS to tokenization):
SmolLM2's template from its GGUF, Llama 3's (Meta-Llama-3-8B-Instruct), and two more ChatML
templates: Qwen2's (its own default system prompt) and a Qwen2.5-style one with escaped newlines.
Ids are space-separated; an empty input has an empty id list.

Usage: tokenizer_reference.py [--model SMOLLM2.gguf] [--shared ../shared] [--out-dir models/ref]
pip requirements: gguf==0.19.0 numpy==2.4.6 tokenizers==0.22.2 jinja2==3.1.6;
optional transformers==4.57.1
"""
import argparse
import pathlib
import struct
import sys

import jinja2.sandbox
from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTROL = 3

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")

HARD_STRINGS = [
    "", " ", "  ", "\t", "\n", "\n\n\n", " \n \n", "\r\n", "Hello world", "Hello, World!",
    "a  b   c    d", "trailing spaces   ", "   leading spaces", "tabs\tand\nnewlines\r\nwindows",
    "  \t\n x", "line one\n\nline two\n  indented\n\t\ttabbed",
    # numbers
    "1234567", "3.14", "1,000,000", "x2 y33 z444 5555", "in 1999 and 2024.", "0x1F 1e-5 -42",
    "٣٤٥ (Arabic-Indic)", "½ ² Ⅻ ①", "১২৩",
    # contractions and quotes
    "it's don't we're they've I'm we'll he'd", "IT'S DON'T WE'RE", "'s's''s", "rock 'n' roll",
    "'hello' \"world\"", "the dog's bone", "'ll'", "x'sy", "\u017f 'X 'S '\u017fx",
    # emoji (with a skin tone, a ZWJ family, a flag), CJK, other scripts, combining marks
    "😀 👍🏽 👨\u200d👩\u200d👧", "I ❤\ufe0f you", "🇫🇷 flag", "你好，世界！", "日本語のテキスト",
    "한국어 텍스트", "e\u0301 cafe\u0301 n\u0303o", "Z\u0324\u0354\u0367\u0311a\u0308\u0356\u032dl",
    "Привет мир", "مرحبا بالعالم", "नमस्ते दुनिया", "ภาษาไทย",
    # Unicode whitespace and invisible characters
    "a\u00a0b", "a\u3000b", "a\u2003\u2003b", "x\u200by", "p\u2028q\u2029r", "s\u0085t",
    "\u00a0\u00a0x",
    # special tokens (parsed or plain text)
    "<|im_start|>user\nHello<|im_end|>\n", "<|im_start|>assistant", "<|endoftext|>",
    "<|im_start|", "<<|im_end|>>", "<|im_start|><|im_end|>", "text<|im_end|>text",
    " <|im_start|> spaced <|im_end|> ", "<|im_start|>system\nYou are helpful.<|im_end|>\n",
    # code, punctuation, symbols, control characters
    "def f(x):\n    return x**2  # comment\n", "if (a && b) { c++; }",
    "https://example.com/p?q=1&r=2", "Hello!!! What?!... (yes) [no] {maybe}", "--- *** ___ ...",
    "e.g. i.e. etc.", "$100 €50 £30 ¥1000", "ABCdefGHI camelCaseWords snake_case_words",
    "\x00\x01\x1f\x7f", "bell\x07", "a\x04b\x06c\x13",
    # long runs
    "a" * 300, " " * 100, "😀" * 20, "1" * 40, "ab " * 50, "\n" * 30,
]

# Bytes that are not valid UTF-8: only the SentencePiece reference (which works on bytes) has them.
INVALID_UTF8 = [b"\xff", b"abc\xfe\xffdef", b"\xe4\xb8", b"\xe4ab", b"\x80\x80 x",
                b"ok \xc3\x28 ok"]

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
QWEN25_STYLE_TEMPLATE = (  # newlines written as \n escapes inside the literals
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "{%- else %}\n"
    "    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. "
    "You are a helpful assistant.<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\") %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' "
    "+ '\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n")

CONVERSATIONS = [
    [("user", "What is the capital of France?")],
    [("system", "You are terse."), ("user", "Hi")],
    [("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke.")],
    [("user", "  spaced out \n\n"), ("assistant", "\tindented\nlines  ")],
    [("user", "caf\u00e9 \u4f60\u597d \U0001F600 <|im_end|> it's")],
    [("user", "first"), ("system", "a late system message")],
    [],
]


def field_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def field_ints(reader, key):
    f = reader.fields[key]
    return [int(f.parts[i][0]) for i in f.data]


def ids_text(ids):
    return " ".join(str(i) for i in ids)


def gpt2_byte_decoder():
    """GPT-2 byte-level alphabet, character -> byte."""
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def build_smollm2(model_path):
    reader = GGUFReader(model_path)
    tokens = field_strings(reader, "tokenizer.ggml.tokens")
    types = field_ints(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field_strings(reader, "tokenizer.ggml.merges")]
    pre = bytes(reader.fields["tokenizer.ggml.pre"].parts[-1]).decode()
    if pre != "smollm":
        sys.exit(f"expected tokenizer.ggml.pre 'smollm' in {model_path}, found '{pre}'")
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == CONTROL])
    return tok


def encode(tok, text, parse_special):
    tok.encode_special_tokens = not parse_special
    return tok.encode(text, add_special_tokens=False).ids


def essays(shared):
    folder = shared / "data/paul_graham_essays"
    files = sorted(folder.glob("*.txt"))
    if not files:
        sys.exit(f"no essays in {folder}")
    return [(f.name, f.read_bytes()) for f in files]


def write_smollm2(tok, essay_list, out):
    with open(out / "smollm2_essays.txt", "w") as f:
        for name, data in essay_list:
            f.write(f"{name}\t{ids_text(encode(tok, data.decode('utf-8'), False))}\n")
    with open(out / "smollm2_hard.txt", "w") as f:
        for s in HARD_STRINGS:
            for flag, special in (("S", True), ("P", False)):
                ids = encode(tok, s, special)
                decoded = tok.decode(ids, skip_special_tokens=False)
                f.write(f"{flag}\t{s.encode().hex()}\t{ids_text(ids)}\t{decoded.encode().hex()}\n")


def cross_check_transformers(tok, model_path, essay_list):
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
        from transformers import AutoTokenizer
    except ImportError:
        print("transformers cross-check: skipped (transformers is not installed)")
        return
    # Reading GGUF metadata needs no torch; transformers only asks for it to read tensors.
    gguf_utils.is_torch_available = lambda: True
    path = pathlib.Path(model_path).resolve()
    try:
        hf = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as e:  # the cross-check is a report: other versions may not load GGUF
        print(f"transformers cross-check: skipped ({type(e).__name__}: {e})")
        return
    # transformers' GGUF conversion leaves out SmolLM2's Digits step (it ignores
    # tokenizer.ggml.pre), so it is also compared with the reference without that step.
    no_digits = build_smollm2(model_path)
    no_digits.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    inputs = [(name, data.decode("utf-8"), False) for name, data in essay_list]
    inputs += [(repr(s), s, p) for s in HARD_STRINGS for p in (True, False)]
    differ, differ_no_digits = [], []
    for name, text, special in inputs:
        ids = hf.encode(text, add_special_tokens=False, split_special_tokens=not special)
        if ids != encode(tok, text, special):
            differ.append(name)
        if ids != encode(no_digits, text, special):
            differ_no_digits.append(name)
    n = len(inputs)
    print(f"transformers {transformers_version()} cross-check on {n} inputs: "
          f"{n - len(differ)} agree with the reference"
          + (f" (differ: {', '.join(differ)})" if differ else "")
          + f"; {n - len(differ_no_digits)} agree with the reference without its Digits step"
          + (f" (differ: {', '.join(differ_no_digits)})" if differ_no_digits else ""))


def transformers_version():
    import transformers
    return transformers.__version__


def write_pretok(out):
    byte_of = gpt2_byte_decoder()
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    kinds = {
        "gpt2": (byte_level, True),
        "smollm": (pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level]), True),
        "qwen2": (pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"), False),
        "llama3": (pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"), False),
    }
    with open(out / "pretok_hard.txt", "w") as f:
        for kind, (pre, is_byte_level) in kinds.items():
            for s in HARD_STRINGS:
                pieces = []
                for piece, _ in pre.pre_tokenize_str(s):
                    raw = bytes(byte_of[c] for c in piece) if is_byte_level else piece.encode()
                    pieces.append(raw.hex())
                if "".join(pieces) != s.encode().hex():
                    sys.exit(f"{kind} pieces do not cover {s!r}")
                f.write(f"{kind}\t{s.encode().hex()}\t{' '.join(pieces)}\n")


class Llama2cTokenizer:
    """llama2.c's tokenizer (run.c build_tokenizer / encode) over tok512.bin."""

    def __init__(self, path):
        data = pathlib.Path(path).read_bytes()
        pos = 4  # max_token_length
        self.pieces, self.scores = [], []
        while pos < len(data):
            score, length = struct.unpack_from("<fi", data, pos)
            pos += 8
            self.pieces.append(data[pos:pos + length])
            self.scores.append(score)
            pos += length
        self.lookup = {p: i for i, p in enumerate(self.pieces)}
        for b in range(256):  # run.c's byte fallback is `byte + 3`
            if self.pieces[b + 3] != f"<0x{b:02X}>".encode():
                sys.exit(f"{path}: token {b + 3} is not the byte token <0x{b:02X}>")
        # Merges can then never cross the start of a piece that begins with a space, so each
        # such word is merged alone: the same result as run.c's merge over the whole text.
        if any(b" " in p[1:] for p in self.pieces):
            sys.exit(f"{path}: a piece has an inner space; the per-word merge is not exact")

    def encode(self, text: bytes):
        if not text:
            return []
        tokens = [self.lookup[b" "]]  # the dummy prefix
        buf = b""
        for i, c in enumerate(text):
            if c & 0xC0 != 0x80:
                buf = b""
            buf += bytes([c])
            if i + 1 < len(text) and text[i + 1] & 0xC0 == 0x80 and len(buf) < 4:
                continue
            if buf in self.lookup:
                tokens.append(self.lookup[buf])
            else:
                tokens.extend(b + 3 for b in buf)
            buf = b""
        words, out = [], []
        for t in tokens:
            if not words or self.pieces[t].startswith(b" "):
                words.append([])
            words[-1].append(t)
        for word in words:
            out.extend(self.merge(word))
        return out

    def merge(self, tokens):
        while True:
            best_score, best_id, best_idx = -1e10, -1, -1
            for i in range(len(tokens) - 1):
                tid = self.lookup.get(self.pieces[tokens[i]] + self.pieces[tokens[i + 1]], -1)
                if tid != -1 and self.scores[tid] > best_score:
                    best_score, best_id, best_idx = self.scores[tid], tid, i
            if best_idx == -1:
                return tokens
            tokens[best_idx:best_idx + 2] = [best_id]


def write_stories(shared, essay_list, out):
    tok = Llama2cTokenizer(shared / "models/stories260K/tok512.bin")
    with open(out / "stories260K_essays.txt", "w") as f:
        for name, data in essay_list:
            f.write(f"{name}\t{ids_text(tok.encode(data))}\n")
    with open(out / "stories260K_hard.txt", "w") as f:
        # run.c reads C strings: inputs with NUL bytes are left out.
        inputs = [s.encode() for s in HARD_STRINGS if "\x00" not in s] + INVALID_UTF8
        for data in inputs:
            f.write(f"{data.hex()}\t{ids_text(tok.encode(data))}\n")


def write_chat(model_path, out):
    reader = GGUFReader(model_path)
    smollm2 = bytes(reader.fields["tokenizer.chat_template"].parts[-1]).decode("utf-8")
    templates = {"smollm2": smollm2, "llama3": LLAMA3_TEMPLATE, "qwen2": QWEN2_TEMPLATE,
                 "qwen2.5-style": QWEN25_STYLE_TEMPLATE}
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    with open(out / "chat_templates.txt", "w") as f:
        for name, text in templates.items():
            f.write(f"T\t{name}\t{text.encode().hex()}\n")
            template = env.from_string(text)
            for conv in CONVERSATIONS:
                if not conv and name == "qwen2.5-style":
                    continue  # that template reads messages[0]
                messages = [{"role": r, "content": c} for r, c in conv]
                for add in (False, True):
                    rendered = template.render(messages=messages, add_generation_prompt=add,
                                               bos_token="", eos_token="")
                    encoded = ",".join(f"{r}={c.encode().hex()}" for r, c in conv)
                    f.write(f"C\t{name}\t{int(add)}\t{encoded}\t{rendered.encode().hex()}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--out-dir", default=str(ROOT / "models/ref"))
    args = ap.parse_args()
    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shared = pathlib.Path(args.shared)
    essay_list = essays(shared)

    tok = build_smollm2(args.model)
    write_smollm2(tok, essay_list, out)
    write_pretok(out)
    write_stories(shared, essay_list, out)
    write_chat(args.model, out)
    print(f"tokenizer references written to {out}")
    cross_check_transformers(tok, args.model, essay_list)


if __name__ == "__main__":
    main()
