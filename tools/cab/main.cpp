// cab: the libcab command-line tool (see docs/CLI.md).
#include <cstdio>
#include <exception>
#include <string>

#include "cab/cab.h"
#include "cli_error.h"
#include "commands.h"

namespace {

const char kUsage[] =
    "usage: cab COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  info MODEL               describe a GGUF model\n"
    "  generate -m MODEL -p P   complete a prompt, streaming the text\n"
    "  chat -m MODEL            talk with a chat model (reads lines from stdin)\n"
    "  eval -m MODEL --out F    answer quality under KV budgets, per task and policy\n"
    "\n"
    "`cab COMMAND --help` lists a command's options. `cab --version` prints the version.\n";

int dispatch(int argc, char **argv) {
    const std::string command = argv[1];
    if (command == "-h" || command == "--help" || command == "help") {
        std::fputs(kUsage, stdout);
        return cab_cli::kExitOk;
    }
    if (command == "--version") {
        std::printf("cab %s\n", cab_version_string());
        return cab_cli::kExitOk;
    }
    if (command == "info") return cab_cli::run_info(argc - 1, argv + 1);
    if (command == "generate") return cab_cli::run_generate(argc - 1, argv + 1);
    if (command == "chat") return cab_cli::run_chat(argc - 1, argv + 1);
    if (command == "eval") return cab_cli::run_eval(argc - 1, argv + 1);
    throw cab_cli::UsageError("unknown command '" + command + "'", kUsage);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fputs(kUsage, stderr);
        return cab_cli::kExitUsage;
    }
    try {
        return dispatch(argc, argv);
    } catch (const cab_cli::UsageError &e) {
        std::fprintf(stderr, "cab: error: %s\n\n%s", e.what(), e.usage());
        return cab_cli::kExitUsage;
    } catch (const cab_cli::ApiError &e) {
        std::fprintf(stderr, "cab: error: %s\n", e.what());
        return cab_cli::kExitError;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cab: error: %s\n", e.what());
        return cab_cli::kExitError;
    }
}
