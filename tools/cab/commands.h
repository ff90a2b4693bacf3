// The subcommands. Each gets its own argv (argv[0] is the command name), returns the exit code
// and throws UsageError / ApiError for main to report.
#pragma once

namespace cab_cli {

int run_info(int argc, char **argv);
int run_generate(int argc, char **argv);
int run_chat(int argc, char **argv);
int run_eval(int argc, char **argv);

}  // namespace cab_cli
