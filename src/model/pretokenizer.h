// Pre-tokenizers of byte-level BPE models: the regexes of the reference tokenizers (HF
// `tokenizers`, llama.cpp), implemented by hand over Unicode character classes. BPE merges only
// within the pieces they produce.
#pragma once

#include <string_view>
#include <vector>

namespace cab {

enum class PreTokenizer {
    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    Gpt2,
    // Every \p{N} character alone (HF Digits(individual_digits=True)), then Gpt2 in each piece.
    SmolLM,
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
    // \s*[\r\n]+|\s+(?!\S)|\s+
    Qwen2,
    // As Qwen2 with \p{N}{1,3} for numbers.
    Llama3,
};

// The pre-tokenizer for a tokenizer.ggml.pre value: "gpt2" (also "gpt-2", "default" and an
// empty name), "smollm", "qwen2", "llama-bpe" (also "llama3", "llama-v3"). llama.cpp maps
// "default" to a legacy regex set of its own; libcab treats it as GPT-2.
// Throws cab::Error(UNSUPPORTED) naming an unknown value.
PreTokenizer pretokenizer_from_name(std::string_view name);

// Splits text into consecutive pieces that cover it exactly. Bytes that are not valid UTF-8 are
// characters of no class (like punctuation).
std::vector<std::string_view> pretokenize(PreTokenizer kind, std::string_view text);

}  // namespace cab
