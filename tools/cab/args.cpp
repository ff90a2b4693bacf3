#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "cli_error.h"

namespace cab_cli {

namespace {

const Option *find_option(const std::vector<Option> &options, const std::string &name) {
    for (const auto &opt : options)
        for (const auto &n : opt.names)
            if (n == name) return &opt;
    return nullptr;
}

UsageError bad_value(const std::string &name, const std::string &text, const char *what,
                     const char *usage) {
    return UsageError("option " + name + ": '" + text + "' is not " + what, usage);
}

}  // namespace

bool parse_args(int argc, char **argv, const std::vector<Option> &options,
                std::vector<std::string> *positionals, const char *usage) {
    bool only_positionals = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool looks_like_option = arg.size() > 1 && arg[0] == '-';
        if (only_positionals || !looks_like_option) {
            if (!positionals) throw UsageError("unexpected argument '" + arg + "'", usage);
            positionals->push_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positionals = true;
            continue;
        }
        if (arg == "-h" || arg == "--help") return false;

        std::string name = arg;
        std::string value;
        bool inline_value = false;
        const auto eq = arg.find('=');
        if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            inline_value = true;
        }
        const Option *opt = find_option(options, name);
        if (!opt) throw UsageError("unknown option '" + name + "'", usage);
        if (opt->takes_value && !inline_value) {
            if (i + 1 >= argc) throw UsageError("option " + name + " needs a value", usage);
            value = argv[++i];
        } else if (!opt->takes_value && inline_value) {
            throw UsageError("option " + name + " takes no value", usage);
        }
        opt->set(value);
    }
    return true;
}

int64_t parse_int(const std::string &name, const std::string &text, int64_t min, int64_t max,
                  const char *usage) {
    errno = 0;
    char *end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE)
        throw bad_value(name, text, "an integer", usage);
    if (v < min || v > max)
        throw UsageError("option " + name + ": " + text + " is outside [" + std::to_string(min) +
                             ", " + std::to_string(max) + "]",
                         usage);
    return v;
}

uint64_t parse_u64(const std::string &name, const std::string &text, const char *usage) {
    errno = 0;
    char *end = nullptr;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE)
        throw bad_value(name, text, "an unsigned integer", usage);
    return v;
}

float parse_float(const std::string &name, const std::string &text, const char *usage) {
    errno = 0;
    char *end = nullptr;
    const float v = std::strtof(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
        throw bad_value(name, text, "a finite number", usage);
    return v;
}

}  // namespace cab_cli
