// Chat formatting against the templates themselves: tools/golden/tokenizer_reference.py renders
// SmolLM2's template (from its GGUF), Llama 3's and two other ChatML templates with jinja2, as
// transformers' apply_chat_template does, into models/ref/chat_templates.txt.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "model/chat_template.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "test_paths.h"
#include "util/error.h"

namespace {

using cab::ChatMessage;

std::vector<std::string> split(const std::string &s, char sep) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == sep) {
            out.emplace_back();
        } else {
            out.back() += c;
        }
    }
    return out;
}

std::string unhex(const std::string &hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

std::vector<std::string> reference_lines() {
    const std::string path = cab::test::models_path("ref/chat_templates.txt");
    if (!cab::test::file_exists(path)) FAIL(path << " is missing: run tools/setup.sh");
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE(!lines.empty());
    return lines;
}

std::string smollm2_template() {
    const std::string path = cab::test::models_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!cab::test::file_exists(path)) FAIL(path << " is missing: run tools/setup.sh");
    return cab::gguf::File::open(path)->get_string("tokenizer.chat_template");
}

}  // namespace

TEST_CASE("chat: formatting matches the Jinja templates rendered by jinja2", "[chat]") {
    std::map<std::string, std::string> templates;
    size_t cases = 0;
    for (const std::string &line : reference_lines()) {
        const auto f = split(line, '\t');
        if (f[0] == "T") {
            REQUIRE(f.size() == 3);
            templates[f[1]] = unhex(f[2]);
            continue;
        }
        REQUIRE(f.size() == 5);
        REQUIRE(templates.count(f[1]) == 1);
        const std::string &jinja = templates[f[1]];
        std::vector<ChatMessage> messages;
        for (const std::string &m : split(f[3], ',')) {
            if (m.empty()) continue;
            const size_t eq = m.find('=');
            messages.push_back({m.substr(0, eq), unhex(m.substr(eq + 1))});
        }
        const bool add_assistant = f[2] == "1";
        INFO("template " << f[1] << ", " << messages.size() << " messages, add_assistant "
                         << add_assistant);
        const cab_chat_template kind = cab::detect_chat_template(jinja);
        CHECK(kind == (f[1] == "llama3" ? CAB_CHAT_TEMPLATE_LLAMA3 : CAB_CHAT_TEMPLATE_CHATML));
        CHECK(cab::format_chat(kind, jinja, messages, add_assistant) == unhex(f[4]));
        ++cases;
    }
    CHECK(templates.size() == 4);
    CHECK(cases > 40);
    // The reference rendered the template that the model file holds.
    CHECK(templates["smollm2"] == smollm2_template());
}

TEST_CASE("chat: the SmolLM2 default system prompt comes from its template", "[chat]") {
    const std::string jinja = smollm2_template();
    const std::string text =
        cab::format_chat(CAB_CHAT_TEMPLATE_CHATML, jinja, {{"user", "Hi"}}, true);
    CHECK(text ==
          "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
          "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    // A ChatML template without a default system prompt inserts none.
    const std::string plain =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
    CHECK(cab::format_chat(CAB_CHAT_TEMPLATE_CHATML, plain, {{"user", "Hi"}}, false) ==
          "<|im_start|>user\nHi<|im_end|>\n");

    // The formatted text tokenizes into SmolLM2's special tokens.
    const std::string path = cab::test::models_path("SmolLM2-135M-Instruct.Q4_1.gguf");
    const auto file = cab::gguf::File::open(path);
    const auto tok = cab::Tokenizer::from_gguf(*file);
    const std::vector<int32_t> ids = tok->encode(text, false, true);
    REQUIRE(ids.size() > 4);
    CHECK(ids.front() == 1);                            // <|im_start|>
    CHECK(std::count(ids.begin(), ids.end(), 2) == 2);  // <|im_end|>
}

TEST_CASE("chat: templates are detected from their Jinja text", "[chat]") {
    CHECK(cab::detect_chat_template("") == CAB_CHAT_TEMPLATE_NONE);
    CHECK(cab::detect_chat_template("{{ messages }}") == CAB_CHAT_TEMPLATE_NONE);
    CHECK(cab::detect_chat_template("{{'<|im_start|>' + role}}") == CAB_CHAT_TEMPLATE_CHATML);
    CHECK(cab::detect_chat_template("{{'<|start_header_id|>'}}") == CAB_CHAT_TEMPLATE_LLAMA3);
}

TEST_CASE("chat: bad roles and unknown templates are rejected", "[chat]") {
    try {
        cab::format_chat(CAB_CHAT_TEMPLATE_CHATML, "", {{"user", "a"}, {"robot", "b"}}, true);
        FAIL("accepted the role 'robot'");
    } catch (const cab::Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains("messages[1].role"));
    }
    try {
        cab::format_chat(CAB_CHAT_TEMPLATE_NONE, "", {{"user", "a"}}, true);
        FAIL("formatted without a template");
    } catch (const cab::Error &e) {
        CHECK(e.status() == CAB_ERR_UNSUPPORTED);
    }
    CHECK(cab::format_chat(CAB_CHAT_TEMPLATE_LLAMA3, "", {}, false).empty());
}
