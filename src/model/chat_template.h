// Chat formatting: ChatML (SmolLM2, Qwen) and Llama 3, detected from tokenizer.chat_template.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cab/cab.h"

namespace cab {

struct ChatMessage {
    std::string role;
    std::string content;
};

// Detects the template family from the Jinja text in tokenizer.chat_template (empty if absent).
cab_chat_template detect_chat_template(std::string_view jinja_template);

// Formats messages as the model's template does. For ChatML the default system prompt that the
// template itself inserts (e.g. SmolLM2's) is reproduced when `jinja_template` contains one: the
// text of a string literal "<|im_start|>system\n...<|im_end|>" in the template; it goes first
// when the first message is not a system message.
// Llama 3: the template puts bos_token ("<|begin_of_text|>") first; libcab leaves it out of the
// text because BOS is a token that tokenizing with CAB_TOKENIZE_ADD_BOS adds (the model's
// tokenizer.ggml.add_bos_token), so the text is the same whether or not the caller adds BOS.
// Message content is trimmed, as the template's `| trim` does.
// Roles are "system", "user" and "assistant".
// Throws cab::Error(UNSUPPORTED) for CAB_CHAT_TEMPLATE_NONE, INVALID_ARGUMENT for a bad role.
std::string format_chat(cab_chat_template kind, std::string_view jinja_template,
                        const std::vector<ChatMessage> &messages, bool add_assistant);

}  // namespace cab
