// A small command-line parser: options with and without values ("-n 16", "--top-k=40"), flags,
// positionals, -h/--help; strict number parsing. Errors are UsageError (exit 2).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cab_cli {

struct Option {
    std::vector<std::string> names;  // e.g. {"-m", "--model"}
    bool takes_value;
    std::function<void(const std::string &)> set;  // gets the value ("" for a flag)
};

// Parses argv[1..argc) (argv[0] is the command name). Returns false when -h/--help was given.
// Arguments that are not options go to *positionals (an error when positionals is null).
bool parse_args(int argc, char **argv, const std::vector<Option> &options,
                std::vector<std::string> *positionals, const char *usage);

// Parse `text`, the value of option `name`; throw UsageError naming the option when it is not a
// number in [min, max].
int64_t parse_int(const std::string &name, const std::string &text, int64_t min, int64_t max,
                  const char *usage);
uint64_t parse_u64(const std::string &name, const std::string &text, const char *usage);
float parse_float(const std::string &name, const std::string &text, const char *usage);

}  // namespace cab_cli
