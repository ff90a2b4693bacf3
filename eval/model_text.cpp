#include "model_text.h"

#include <algorithm>

namespace cab_eval {

void check(cab_status status, const char *what) {
    if (status == CAB_OK) return;
    const std::string message = cab_last_error();
    throw ApiError(
        status, std::string(what) + ": " + (message.empty() ? cab_status_string(status) : message));
}

ModelText::ModelText(const cab_model *model) : model_(model) {
    info_.struct_size = sizeof(info_);
    check(cab_model_info_get(model, &info_), "cab_model_info_get");
}

std::vector<cab_token> ModelText::tokenize_flags(const std::string &text, uint32_t flags) const {
    // Byte-level tokenizers give at most one token per byte, plus BOS.
    std::vector<cab_token> tokens(text.size() + 8);
    size_t n = 0;
    cab_status status =
        cab_tokenize(model_, text.data(), text.size(), flags, tokens.data(), tokens.size(), &n);
    if (status == CAB_ERR_BUFFER_TOO_SMALL) {
        tokens.resize(n);
        status =
            cab_tokenize(model_, text.data(), text.size(), flags, tokens.data(), tokens.size(), &n);
    }
    check(status, "cab_tokenize");
    tokens.resize(n);
    return tokens;
}

std::vector<cab_token> ModelText::tokenize(const std::string &text) const {
    return tokenize_flags(text, 0);
}

Prompt ModelText::user_prompt(const std::string &user, const std::string &plain_cue) const {
    Prompt p;
    if (!has_chat_template()) {
        p.text = user + "\n" + plain_cue;
        p.tokens = tokenize_flags(p.text, CAB_TOKENIZE_ADD_BOS);
        return p;
    }
    const cab_chat_message message{"user", user.c_str()};
    std::string text(user.size() + 512, '\0');
    size_t n = 0;
    cab_status status = cab_chat_format(model_, &message, 1, 1, text.data(), text.size(), &n);
    if (status == CAB_ERR_BUFFER_TOO_SMALL) {
        text.resize(n + 1);
        status = cab_chat_format(model_, &message, 1, 1, text.data(), text.size(), &n);
    }
    check(status, "cab_chat_format");
    text.resize(n);
    p.text = std::move(text);
    p.tokens = tokenize_flags(p.text, CAB_TOKENIZE_PARSE_SPECIAL);
    return p;
}

// Tokens before the question that may merge with it at its boundary.
constexpr size_t kBoundarySlack = 2;

size_t ModelText::question_start(const Prompt &prompt, const std::string &question) const {
    const size_t at = question.empty() ? std::string::npos : prompt.text.rfind(question);
    if (at == std::string::npos)
        throw std::runtime_error("question window: the question is not in the prompt");
    // The prompt's own tokenization of the text before the question, BOS and specials as the
    // prompt was tokenized.
    const uint32_t flags = has_chat_template() ? CAB_TOKENIZE_PARSE_SPECIAL : CAB_TOKENIZE_ADD_BOS;
    const std::vector<cab_token> before = tokenize_flags(prompt.text.substr(0, at), flags);
    // Where the two part, the white space before the question has merged with it ("\n\n" +
    // "What" is not "\n\nWhat" in every tokenizer): the question's chunk starts there.
    const size_t n = std::min(before.size(), prompt.tokens.size());
    const size_t common = static_cast<size_t>(
        std::mismatch(before.begin(), before.begin() + static_cast<std::ptrdiff_t>(n),
                      prompt.tokens.begin())
            .first -
        before.begin());
    if (common == 0 || common >= prompt.tokens.size() || before.size() - common > kBoundarySlack)
        throw std::runtime_error(
            "question window: the question does not start on a token boundary of the prompt");
    return common;
}

std::string ModelText::detokenize(const std::vector<cab_token> &tokens) const {
    std::string text(tokens.size() * 8 + 16, '\0');
    size_t n = 0;
    cab_status status = cab_detokenize(model_, tokens.data(), tokens.size(),
                                       CAB_DETOKENIZE_SKIP_SPECIAL, text.data(), text.size(), &n);
    if (status == CAB_ERR_BUFFER_TOO_SMALL) {
        text.resize(n + 1);
        status = cab_detokenize(model_, tokens.data(), tokens.size(), CAB_DETOKENIZE_SKIP_SPECIAL,
                                text.data(), text.size(), &n);
    }
    check(status, "cab_detokenize");
    text.resize(n);
    return text;
}

}  // namespace cab_eval
