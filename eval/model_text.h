// Text through a model's tokenizer and chat template, via the public C API only.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cab/cab.h"

namespace cab_eval {

// A failed libcab call: the status and "FUNCTION: cab_last_error()".
class ApiError : public std::runtime_error {
public:
    ApiError(cab_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    cab_status status() const { return status_; }

private:
    cab_status status_;
};

// Throws ApiError for a status other than CAB_OK; `what` names the call.
void check(cab_status status, const char *what);

struct ModelDeleter {
    void operator()(cab_model *m) const { cab_model_free(m); }
};
struct CtxDeleter {
    void operator()(cab_ctx *c) const { cab_ctx_destroy(c); }
};
using ModelPtr = std::unique_ptr<cab_model, ModelDeleter>;
using CtxPtr = std::unique_ptr<cab_ctx, CtxDeleter>;

// A prompt as text and tokens, ready to prefill.
struct Prompt {
    std::string text;
    std::vector<cab_token> tokens;
};

// The tokenizer and chat template of one model (borrowed; it must outlive this object).
class ModelText {
public:
    explicit ModelText(const cab_model *model);

    const cab_model *model() const { return model_; }
    const cab_model_info &info() const { return info_; }
    bool has_chat_template() const { return info_.chat_template != CAB_CHAT_TEMPLATE_NONE; }

    // Plain text, no BOS, special-token syntax left as text.
    std::vector<cab_token> tokenize(const std::string &text) const;
    size_t count_tokens(const std::string &text) const { return tokenize(text).size(); }

    // One user turn that ends with the question, ready for the answer: with a chat template,
    // `user` formatted as the only user message followed by the assistant header; without one,
    // BOS + user + "\n" + `plain_cue` (e.g. "Answer:"), so the prompt ends where the answer starts.
    Prompt user_prompt(const std::string &user, const std::string &plain_cue) const;

    // The index of the prompt token where `question` (its last occurrence in prompt.text)
    // begins: the prompt's text before it tokenizes to the tokens before that index, but for at
    // most two tokens of white space that merge with the question's first token. Throws
    // std::runtime_error when the question is not in the prompt or no such index exists.
    size_t question_start(const Prompt &prompt, const std::string &question) const;

    // Generated tokens as text, control tokens left out.
    std::string detokenize(const std::vector<cab_token> &tokens) const;

private:
    std::vector<cab_token> tokenize_flags(const std::string &text, uint32_t flags) const;

    const cab_model *model_;
    cab_model_info info_{};
};

}  // namespace cab_eval
