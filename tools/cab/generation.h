// Text <-> tokens through the C API and the sample/decode loop that streams a reply to stdout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cab/cab.h"

namespace cab_cli {

std::vector<cab_token> tokenize(const cab_model *model, const std::string &text, uint32_t flags);
std::string token_piece(const cab_model *model, cab_token token);

struct ChatTurn {
    std::string role;
    std::string content;
};
// The conversation formatted with the model's chat template, ending with the assistant header.
std::string format_chat(const cab_model *model, const std::vector<ChatTurn> &turns);

// Prefills seq 0 with `tokens`; returns the seconds it took.
double prefill(cab_ctx *ctx, const std::vector<cab_token> &tokens);

struct ReplyStats {
    int64_t generated = 0;  // tokens sampled and printed (an end-of-generation token is not)
    int64_t decoded = 0;    // decode steps run
    double decode_seconds = 0.0;
    bool kv_full = false;  // stopped because the KV pool could not take the next token
};

// Samples and decodes on seq 0 up to max_tokens tokens or an end-of-generation token, streaming
// the text to stdout and appending it to *text. With decode_last the final token is decoded too,
// so that the cache holds every printed token (chat continues from there).
ReplyStats stream_reply(const cab_model *model, cab_ctx *ctx, cab_sampler *sampler,
                        int64_t max_tokens, bool decode_last, std::string *text);

// One line per figure on stderr: prefill and decode rates, then the KV cache of seq 0 (its 8-bit
// blocks named by q8_type: "int8" or "fp8").
void print_stats(cab_ctx *ctx, size_t prompt_tokens, double prefill_seconds,
                 const ReplyStats &reply, const std::string &q8_type);

}  // namespace cab_cli
