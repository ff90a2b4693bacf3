#include "generation.h"

#include <chrono>
#include <cstdio>

#include "cli_error.h"
#include "utf8_stream.h"

namespace cab_cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void write_stdout(const std::string &text) {
    if (text.empty()) return;
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

double rate(double count, double seconds) {
    return seconds > 0.0 ? count / seconds : 0.0;
}

double mib(uint64_t bytes) {
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

}  // namespace

std::vector<cab_token> tokenize(const cab_model *model, const std::string &text, uint32_t flags) {
    // Byte-level tokenizers give at most one token per byte, plus BOS.
    std::vector<cab_token> tokens(text.size() + 8);
    size_t n = 0;
    cab_status status =
        cab_tokenize(model, text.data(), text.size(), flags, tokens.data(), tokens.size(), &n);
    if (status == CAB_ERR_BUFFER_TOO_SMALL) {
        tokens.resize(n);
        status =
            cab_tokenize(model, text.data(), text.size(), flags, tokens.data(), tokens.size(), &n);
    }
    check(status);
    tokens.resize(n);
    return tokens;
}

std::string token_piece(const cab_model *model, cab_token token) {
    std::string piece(32, '\0');
    size_t n = 0;
    cab_status status = cab_token_to_piece(model, token, piece.data(), piece.size(), &n);
    if (status == CAB_ERR_BUFFER_TOO_SMALL) {
        piece.resize(n);
        status = cab_token_to_piece(model, token, piece.data(), piece.size(), &n);
    }
    check(status);
    piece.resize(n);
    return piece;
}

std::string format_chat(const cab_model *model, const std::vector<ChatTurn> &turns) {
    std::vector<cab_chat_message> messages;
    size_t chars = 0;
    for (const auto &t : turns) {
        messages.push_back({t.role.c_str(), t.content.c_str()});
        chars += t.content.size();
    }
    std::string text(chars + 256 * (turns.size() + 1), '\0');
    size_t n = 0;
    cab_status status =
        cab_chat_format(model, messages.data(), messages.size(), 1, text.data(), text.size(), &n);
    if (status == CAB_ERR_BUFFER_TOO_SMALL) {
        text.resize(n + 1);
        status = cab_chat_format(model, messages.data(), messages.size(), 1, text.data(),
                                 text.size(), &n);
    }
    check(status);
    text.resize(n);
    return text;
}

double prefill(cab_ctx *ctx, const std::vector<cab_token> &tokens) {
    const auto start = Clock::now();
    check(cab_prefill(ctx, 0, tokens.data(), tokens.size()));
    return seconds_since(start);
}

ReplyStats stream_reply(const cab_model *model, cab_ctx *ctx, cab_sampler *sampler,
                        int64_t max_tokens, bool decode_last, std::string *text) {
    const cab_seq seq = 0;
    ReplyStats stats;
    Utf8Stream utf8;
    while (stats.generated < max_tokens) {
        cab_token token = 0;
        check(cab_sample(ctx, seq, sampler, &token));
        if (cab_token_is_eog(model, token)) break;
        const std::string piece = token_piece(model, token);
        text->append(piece);
        write_stdout(utf8.push(piece));
        ++stats.generated;
        if (stats.generated == max_tokens && !decode_last) break;

        const auto start = Clock::now();
        const cab_status status = cab_decode(ctx, &seq, &token, 1);
        stats.decode_seconds += seconds_since(start);
        if (status == CAB_ERR_KV_FULL) {
            stats.kv_full = true;
            break;
        }
        check(status);
        ++stats.decoded;
    }
    write_stdout(utf8.flush());
    return stats;
}

void print_stats(cab_ctx *ctx, size_t prompt_tokens, double prefill_seconds,
                 const ReplyStats &reply, const std::string &q8_type) {
    std::fprintf(stderr, "prompt:    %zu tokens, prefill %.3f s, %.1f tokens/s\n", prompt_tokens,
                 prefill_seconds, rate(static_cast<double>(prompt_tokens), prefill_seconds));
    std::fprintf(stderr, "generated: %lld tokens, decode %lld steps in %.3f s, %.1f tokens/s\n",
                 static_cast<long long>(reply.generated), static_cast<long long>(reply.decoded),
                 reply.decode_seconds,
                 rate(static_cast<double>(reply.decoded), reply.decode_seconds));
    cab_kv_stats kv{};
    kv.struct_size = sizeof(kv);
    check(cab_kv_stats_get(ctx, 0, &kv));
    std::fprintf(stderr,
                 "kv cache:  sequence of %lld tokens, %lld tokens cached over %d layers x %d kv "
                 "heads, blocks %lld used / %lld total, %.2f MiB used / %.2f MiB total\n",
                 static_cast<long long>(kv.seq_length), static_cast<long long>(kv.tokens_cached),
                 kv.n_layer, kv.n_head_kv, static_cast<long long>(kv.blocks_used),
                 static_cast<long long>(kv.blocks_total), mib(kv.bytes_used), mib(kv.bytes_total));
    if (kv.q8_blocks_total > 0)
        std::fprintf(stderr, "%-11s blocks %lld used / %lld total, %.2f MiB used\n",
                     (q8_type + " kv:").c_str(), static_cast<long long>(kv.q8_blocks_used),
                     static_cast<long long>(kv.q8_blocks_total), mib(kv.q8_bytes_used));
}

}  // namespace cab_cli
