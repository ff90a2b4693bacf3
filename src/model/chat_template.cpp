#include "model/chat_template.h"

#include <cstdint>

#include "model/unicode.h"
#include "util/error.h"

namespace cab {

namespace {

constexpr std::string_view kImStart = "<|im_start|>";
constexpr std::string_view kImEnd = "<|im_end|>";
constexpr std::string_view kStartHeader = "<|start_header_id|>";

// The value of the Jinja string literal whose opening quote is at text[pos]; pos moves past the
// closing quote (or to the end of an unterminated literal).
std::string read_literal(std::string_view text, size_t &pos) {
    const char quote = text[pos++];
    std::string value;
    while (pos < text.size() && text[pos] != quote) {
        char c = text[pos++];
        if (c == '\\' && pos < text.size()) {
            c = text[pos++];
            switch (c) {
                case 'n':
                    c = '\n';
                    break;
                case 't':
                    c = '\t';
                    break;
                case 'r':
                    c = '\r';
                    break;
                default:
                    break;  // \\, \', \" stand for the character itself
            }
        }
        value += c;
    }
    ++pos;
    return value;
}

// The texts a Jinja template can output verbatim: its raw text between tags, and the string
// literals inside {{ }} and {% %} tags (comments are skipped).
std::vector<std::string> template_strings(std::string_view jinja) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < jinja.size()) {
        const std::string_view two = jinja.substr(pos, 2);
        if (two == "{#") {
            const size_t end = jinja.find("#}", pos + 2);
            pos = end == std::string_view::npos ? jinja.size() : end + 2;
        } else if (two == "{{" || two == "{%") {
            const std::string_view close = two == "{{" ? "}}" : "%}";
            pos += 2;
            while (pos < jinja.size() && jinja.substr(pos, 2) != close) {
                if (jinja[pos] == '\'' || jinja[pos] == '"') {
                    out.push_back(read_literal(jinja, pos));
                } else {
                    ++pos;
                }
            }
            pos += 2;
        } else {
            size_t end = pos + 1;
            while (end < jinja.size() &&
                   !(jinja[end] == '{' && end + 1 < jinja.size() &&
                     std::string_view("{%#").find(jinja[end + 1]) != std::string_view::npos))
                ++end;
            out.emplace_back(jinja.substr(pos, end - pos));
            pos = end;
        }
    }
    return out;
}

// The default system prompt of a ChatML template: the text between "<|im_start|>system\n" and
// "<|im_end|>" in the first template string that has both (SmolLM2: "You are a helpful AI
// assistant named SmolLM, trained by Hugging Face"). Empty when there is none.
std::string default_system_prompt(std::string_view jinja) {
    const std::string head = std::string(kImStart) + "system\n";
    for (const std::string &s : template_strings(jinja)) {
        const size_t start = s.find(head);
        if (start == std::string::npos) continue;
        const size_t text_start = start + head.size();
        const size_t end = s.find(kImEnd, text_start);
        if (end != std::string::npos && end > text_start)
            return s.substr(text_start, end - text_start);
    }
    return {};
}

// Jinja's trim: Python's str.strip(), whose whitespace is White_Space plus U+001C..U+001F.
std::string_view trim(std::string_view s) {
    const auto is_space = [](uint32_t cp) {
        return (unicode::flags(cp) & unicode::kWhitespace) || (cp >= 0x1C && cp <= 0x1F);
    };
    size_t begin = 0;
    while (begin < s.size()) {
        size_t next = begin;
        if (!is_space(unicode::next_codepoint(s, next))) break;
        begin = next;
    }
    size_t end = begin;
    for (size_t pos = begin; pos < s.size();) {
        if (!is_space(unicode::next_codepoint(s, pos))) end = pos;
    }
    return s.substr(begin, end - begin);
}

void check_roles(const std::vector<ChatMessage> &messages) {
    for (size_t i = 0; i < messages.size(); ++i) {
        const std::string &role = messages[i].role;
        require(role == "system" || role == "user" || role == "assistant", CAB_ERR_INVALID_ARGUMENT,
                "messages[" + std::to_string(i) + "].role '" + role +
                    "' is not system, user or assistant");
    }
}

std::string format_chatml(std::string_view jinja, const std::vector<ChatMessage> &messages,
                          bool add_assistant) {
    std::string out;
    const std::string system = default_system_prompt(jinja);
    if (!messages.empty() && messages[0].role != "system" && !system.empty())
        out += std::string(kImStart) + "system\n" + system + std::string(kImEnd) + "\n";
    for (const ChatMessage &m : messages) {
        out += kImStart;
        out += m.role + "\n" + m.content;
        out += kImEnd;
        out += "\n";
    }
    if (add_assistant) out += std::string(kImStart) + "assistant\n";
    return out;
}

std::string format_llama3(const std::vector<ChatMessage> &messages, bool add_assistant) {
    std::string out;
    const auto header = [&](const std::string &role) {
        out += kStartHeader;
        out += role + "<|end_header_id|>\n\n";
    };
    for (const ChatMessage &m : messages) {
        header(m.role);
        out += trim(m.content);
        out += "<|eot_id|>";
    }
    if (add_assistant) header("assistant");
    return out;
}

}  // namespace

cab_chat_template detect_chat_template(std::string_view jinja_template) {
    if (jinja_template.find(kImStart) != std::string_view::npos) return CAB_CHAT_TEMPLATE_CHATML;
    if (jinja_template.find(kStartHeader) != std::string_view::npos)
        return CAB_CHAT_TEMPLATE_LLAMA3;
    return CAB_CHAT_TEMPLATE_NONE;
}

std::string format_chat(cab_chat_template kind, std::string_view jinja_template,
                        const std::vector<ChatMessage> &messages, bool add_assistant) {
    check_roles(messages);
    switch (kind) {
        case CAB_CHAT_TEMPLATE_CHATML:
            return format_chatml(jinja_template, messages, add_assistant);
        case CAB_CHAT_TEMPLATE_LLAMA3:
            return format_llama3(messages, add_assistant);
        default:
            fail(CAB_ERR_UNSUPPORTED,
                 "the model has no chat template libcab knows (ChatML or Llama 3)");
    }
}

}  // namespace cab
