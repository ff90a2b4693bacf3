// A main() for a libFuzzer target built without libFuzzer (gcc, the CUDA build): runs
// LLVMFuzzerTestOneInput once on each file named, or on every regular file of a folder named
// (sorted, not recursive), then prints one summary line. A finding aborts inside the target, as
// under libFuzzer; the input being run is named first, since nothing else says which it was.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
// Optional in a target, as under libFuzzer.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

namespace {

namespace fs = std::filesystem;

// The input being run, for the signal handler (which may only use async-signal-safe calls).
char g_current[4096] = "(none)";

extern "C" void on_fatal_signal(int sig) {
    const char head[] = "fuzz_replay: crashed on input ";
    ssize_t ignored = write(2, head, sizeof head - 1);
    ignored = write(2, g_current, std::strlen(g_current));
    ignored = write(2, "\n", 1);
    (void)ignored;
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

// The files an argument names: itself, or a folder's regular files in sorted order.
std::vector<fs::path> inputs_of(const fs::path &arg) {
    if (!fs::is_directory(arg)) return {arg};
    std::vector<fs::path> files;
    for (const fs::directory_entry &e : fs::directory_iterator(arg))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<uint8_t> read_all(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "fuzz_replay: cannot open %s\n", path.c_str());
        std::exit(2);
    }
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: %s FILE_OR_FOLDER...\n"
                     "Runs the fuzz target once on each file, or on every regular file of each "
                     "folder (sorted, not recursive); a finding aborts.\n",
                     argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_fatal_signal);

    const auto start = std::chrono::steady_clock::now();
    size_t files = 0, bytes = 0;
    for (int i = 1; i < argc; ++i) {
        for (const fs::path &path : inputs_of(argv[i])) {
            const std::vector<uint8_t> data = read_all(path);
            std::snprintf(g_current, sizeof g_current, "%s", path.c_str());
            LLVMFuzzerTestOneInput(data.data(), data.size());
            ++files;
            bytes += data.size();
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("fuzz_replay: %zu files (%zu bytes) run in %.2f s, no finding\n", files, bytes,
                seconds);
    return 0;
}
