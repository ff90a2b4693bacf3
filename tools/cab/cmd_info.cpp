// `cab info MODEL`: what cab_model_info_get reports, in readable form.
#include <cstdio>
#include <string>
#include <vector>

#include "cli_common.h"
#include "cli_error.h"
#include "commands.h"
#include "generation.h"

namespace cab_cli {

namespace {

const char kUsage[] =
    "usage: cab info [--device cpu|cuda|auto] MODEL\n"
    "\n"
    "Prints a GGUF model's architecture, sizes, special tokens, chat template, parameter count\n"
    "and file size.\n"
    "\n"
    "options:\n"
    "  --device D   where to load the weights: cpu, cuda or auto (default auto)\n"
    "  -h, --help   show this help\n";

const char *template_name(cab_chat_template t) {
    switch (t) {
        case CAB_CHAT_TEMPLATE_CHATML:
            return "chatml";
        case CAB_CHAT_TEMPLATE_LLAMA3:
            return "llama3";
        case CAB_CHAT_TEMPLATE_NONE:
            return "none";
    }
    return "unknown";
}

// A token's text, quoted, with control bytes escaped so the terminal shows them.
std::string describe_token(const cab_model *model, cab_token token) {
    if (token < 0) return "none";
    std::string out = std::to_string(token) + " \"";
    for (const char c : token_piece(model, token)) {
        const auto b = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (b < 0x20 || b == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", b);
            out += hex;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

int run_info(int argc, char **argv) {
    cab_device device = CAB_DEVICE_AUTO;
    std::vector<Option> options;
    options.push_back({{"--device"}, true, [&device](const std::string &v) {
                           device = parse_device("--device", v, kUsage);
                       }});
    std::vector<std::string> positionals;
    if (!parse_args(argc, argv, options, &positionals, kUsage)) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }
    if (positionals.size() != 1) throw UsageError("expected one MODEL path", kUsage);
    const std::string &path = positionals[0];

    const ModelPtr model = load_model(path, device);
    cab_model_info info{};
    info.struct_size = sizeof(info);
    check(cab_model_info_get(model.get(), &info));

    std::printf("file:          %s (%.1f MiB)\n", path.c_str(),
                static_cast<double>(info.file_bytes) / (1024.0 * 1024.0));
    std::printf("architecture:  %s\n", info.arch);
    std::printf("name:          %s\n", info.name);
    std::printf("parameters:    %llu (%.1f M)\n", static_cast<unsigned long long>(info.n_params),
                static_cast<double>(info.n_params) / 1e6);
    std::printf("vocab:         %d\n", info.n_vocab);
    std::printf("train context: %d\n", info.n_ctx_train);
    std::printf("embedding:     %d\n", info.n_embd);
    std::printf("layers:        %d\n", info.n_layer);
    std::printf("heads:         %d (kv heads %d, head dim %d)\n", info.n_head, info.n_head_kv,
                info.head_dim);
    std::printf("feed-forward:  %d\n", info.n_ff);
    std::printf("rope theta:    %g\n", static_cast<double>(info.rope_theta));
    std::printf("rms eps:       %g\n", static_cast<double>(info.rms_eps));
    std::printf("bos:           %s\n", describe_token(model.get(), info.bos).c_str());
    std::printf("eos:           %s\n", describe_token(model.get(), info.eos).c_str());
    std::printf("eot:           %s\n", describe_token(model.get(), info.eot).c_str());
    std::printf("chat template: %s\n", template_name(info.chat_template));
    std::printf("device:        %s\n", device_name(info.device));
    return kExitOk;
}

}  // namespace cab_cli
