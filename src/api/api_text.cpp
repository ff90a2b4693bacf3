// Tokenization, detokenization and chat formatting.
#include <string>
#include <vector>

#include "api/guard.h"
#include "api/handles.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"

using cab::api::guard;
using cab::api::require_arg;
using cab::api::require_not_null;

namespace {

constexpr uint32_t kTokenizeFlags = CAB_TOKENIZE_ADD_BOS | CAB_TOKENIZE_PARSE_SPECIAL;
constexpr uint32_t kDetokenizeFlags = CAB_DETOKENIZE_SKIP_SPECIAL;

}  // namespace

extern "C" {

cab_status cab_tokenize(const cab_model *model, const char *text, size_t len, uint32_t flags,
                        cab_token *tokens, size_t cap, size_t *n_out) {
    return guard(__func__, [&] {
        require_not_null(model, "model");
        require_not_null(n_out, "n_out");
        require_arg(text != nullptr || len == 0, "text is NULL but len is not 0");
        require_arg(tokens != nullptr || cap == 0, "tokens is NULL but cap is not 0");
        require_arg((flags & ~kTokenizeFlags) == 0, "flags has unknown bits");
        std::vector<int32_t> ids = model->impl->tokenizer().encode(
            std::string_view(text == nullptr ? "" : text, len),
            (flags & CAB_TOKENIZE_ADD_BOS) != 0, (flags & CAB_TOKENIZE_PARSE_SPECIAL) != 0);
        *n_out = ids.size();
        if (ids.size() > cap)
            cab::fail(CAB_ERR_BUFFER_TOO_SMALL, "tokens holds " + std::to_string(cap) + ", " +
                                                    std::to_string(ids.size()) + " needed");
        std::copy(ids.begin(), ids.end(), tokens);
    });
}

cab_status cab_token_to_piece(const cab_model *model, cab_token token, char *buf, size_t cap,
                              size_t *n_out) {
    return guard(__func__, [&] {
        require_not_null(model, "model");
        cab::api::write_text(model->impl->tokenizer().token_to_piece(token), buf, cap, n_out,
                             false);
    });
}

cab_status cab_detokenize(const cab_model *model, const cab_token *tokens, size_t n,
                          uint32_t flags, char *buf, size_t cap, size_t *n_out) {
    return guard(__func__, [&] {
        require_not_null(model, "model");
        require_arg(tokens != nullptr || n == 0, "tokens is NULL but n is not 0");
        require_arg((flags & ~kDetokenizeFlags) == 0, "flags has unknown bits");
        std::string text = model->impl->tokenizer().decode(
            tokens, n, (flags & CAB_DETOKENIZE_SKIP_SPECIAL) != 0);
        cab::api::write_text(text, buf, cap, n_out, true);
    });
}

int cab_token_is_eog(const cab_model *model, cab_token token) {
    if (model == nullptr) return 0;
    return model->impl->tokenizer().is_eog(token) ? 1 : 0;
}

cab_status cab_chat_format(const cab_model *model, const cab_chat_message *messages,
                           size_t n_messages, int add_assistant, char *buf, size_t cap,
                           size_t *n_out) {
    return guard(__func__, [&] {
        require_not_null(model, "model");
        require_arg(messages != nullptr || n_messages == 0, "messages is NULL but n is not 0");
        std::vector<cab::ChatMessage> list;
        list.reserve(n_messages);
        for (size_t i = 0; i < n_messages; ++i) {
            if (messages[i].role == nullptr || messages[i].content == nullptr)
                cab::fail(CAB_ERR_INVALID_ARGUMENT,
                          "messages[" + std::to_string(i) + "] has a NULL role or content");
            list.push_back({messages[i].role, messages[i].content});
        }
        const cab::Model &m = *model->impl;
        std::string text = cab::format_chat(m.chat_template(), m.chat_template_text(), list,
                                            add_assistant != 0);
        cab::api::write_text(text, buf, cap, n_out, true);
    });
}

}  // extern "C"
