#!/usr/bin/env python3
# Writes tests/golden/dequant.gguf: reference dequantizations from the `gguf` Python package
# (gguf-py, llama.cpp's own implementation) for tests/test_dequant.cpp.
#
# pip requirements: gguf==0.19.0 numpy
#
# Usage: make_dequant_golden.py [SMOLLM2_GGUF] [-o OUT]
#   SMOLLM2_GGUF defaults to models/SmolLM2-135M-Instruct.Q4_1.gguf in the repository.
#
# The file holds, for each weight type T:
#   "T.q"   the quantized tensor (type T): gguf.quants.quantize of seeded random data when the
#           package can quantize T, otherwise seeded random blocks with finite fp16 scales;
#   "T.ref" F32, gguf.quants.dequantize of "T.q".
# and "convert.*" tensors for the f32 <-> fp16/bf16 converters (numpy's and gguf-py's
# conversions of special and random values), and rows of two real SmolLM2 tensors dequantized
# by gguf-py ("smollm2.<tensor>.rows", row indices in "smollm2.<tensor>.row_ids").
import argparse
import importlib.metadata
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

SEED = 20241122
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
         T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
# Byte offsets of the fp16 scale fields in blocks of the types gguf-py cannot quantize:
# they are set to finite values so that references are finite numbers, not NaN.
F16_FIELDS = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
SMOLLM2_ROWS = {"token_embd.weight": [0, 1, 2, 12345, 49151],
                "blk.0.attn_q.weight": [0, 1, 100, 575]}


def source_data(rng):
    """2 rows x 512: blocks of varied scale, plus a zero block, a constant block, outliers."""
    x = rng.standard_normal((2, 512)).astype(np.float32)
    scales = np.exp(rng.uniform(-6, 3, size=(2, 16))).astype(np.float32)
    x *= np.repeat(scales, 32, axis=1)
    x[0, 32:64] = 0.0
    x[0, 64:96] = 0.75
    x[1, 100] = 1000.0
    x[1, 300] = -2500.0
    x[1, 480:512] = np.linspace(-1, 1, 32, dtype=np.float32)
    return x


def random_blocks(rng, qtype, n_blocks):
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        scale = (rng.uniform(1e-4, 0.1, size=n_blocks) * rng.choice([-1, 1], size=n_blocks))
        blocks[:, off:off + 2] = scale.astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    return blocks.reshape(2, -1), block_size


def convert_values(rng):
    """Values that exercise fp16/bf16 rounding: subnormals, overflow, ties, specials."""
    special = np.array([0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 1e6, -1e6,
                        6.1035156e-05, 6.0975552e-05, 5.9604645e-08, 2.9802322e-08,
                        2.9802326e-08, 1e-10, np.inf, -np.inf, np.nan, 1.00048828125,
                        1.00146484375, 3.4028235e38, 1.17549435e-38],
                       dtype=np.float32)
    halves = rng.integers(0, 0x7c00, size=200, dtype=np.uint16).view(np.float16)
    ties = (halves.astype(np.float32).view(np.uint32) | np.uint32(0x1000)).view(np.float32)
    bits = rng.integers(0, 2**32, size=290, dtype=np.uint64).astype(np.uint32)
    random = bits.view(np.float32)
    random = np.where(np.isnan(random), np.float32(0.5), random)
    out = np.concatenate([special, ties, -ties, random]).astype(np.float32)
    return out[: out.size // 32 * 32]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?",
                    default=os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("-o", "--out", default=os.path.join(REPO, "tests", "golden", "dequant.gguf"))
    args = ap.parse_args()
    if not os.path.exists(args.model):
        sys.exit(f"{args.model} not found: run tools/setup.sh first (or pass the model path)")

    rng = np.random.default_rng(SEED)
    w = gguf.GGUFWriter(args.out, arch="cab-golden")
    w.add_uint32("golden.seed", SEED)
    w.add_string("golden.generator", "gguf " + importlib.metadata.version("gguf"))
    w.add_array("golden.types", [t.name for t in TYPES])

    src = source_data(rng)
    for qtype in TYPES:
        try:
            q = quantize(src, qtype)
            if qtype not in (T.F32, T.F16):
                q = q.view(np.uint8)
        except NotImplementedError:
            q, _ = random_blocks(rng, qtype, 8)
        ref = dequantize(q, qtype).astype(np.float32)
        assert np.all(np.isfinite(ref)), qtype.name
        raw = None if q.dtype != np.uint8 else qtype
        w.add_tensor(f"{qtype.name}.q", q, raw_dtype=raw)
        w.add_tensor(f"{qtype.name}.ref", ref)

    conv = convert_values(rng)
    with np.errstate(over="ignore"):  # overflow to inf is one of the cases under test
        f16 = conv.astype(np.float16)
    w.add_tensor("convert.src", conv)
    w.add_tensor("convert.f16", f16)
    w.add_tensor("convert.f16.ref", f16.astype(np.float32))
    w.add_tensor("convert.bf16", quantize(conv, T.BF16).view(np.uint8), raw_dtype=T.BF16)

    reader = gguf.GGUFReader(args.model)
    w.add_uint64("smollm2.file_size", os.path.getsize(args.model))
    for tensor in reader.tensors:
        if tensor.name not in SMOLLM2_ROWS:
            continue
        rows = SMOLLM2_ROWS[tensor.name]
        short = tensor.name.removesuffix(".weight")
        data = np.asarray(tensor.data)[rows]
        w.add_array(f"smollm2.{short}.row_ids", [int(r) for r in rows])
        w.add_string(f"smollm2.{short}.type", tensor.tensor_type.name)
        w.add_tensor(f"smollm2.{short}.rows", dequantize(data, tensor.tensor_type).astype(np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
