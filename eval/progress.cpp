#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace cab_eval {

namespace {

std::string clock_text(double seconds) {
    const auto s = static_cast<long long>(seconds + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

}  // namespace

Progress::Progress(size_t total_samples, int64_t total_tokens, bool quiet)
    : total_(total_samples),
      tokens_left_(total_tokens),
      start_(std::chrono::steady_clock::now()),
      quiet_(quiet),
      tty_(isatty(STDERR_FILENO) == 1) {}

void Progress::skip(int64_t tokens) {
    ++seen_;
    tokens_left_ -= tokens;
}

void Progress::done(const std::string &what, int64_t tokens, double seconds) {
    ++seen_;
    tokens_left_ -= tokens;
    tokens_run_ += tokens;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = tokens_run_ > 0 ? elapsed / static_cast<double>(tokens_run_) *
                                             static_cast<double>(tokens_left_)
                                       : 0.0;
    char buf[256];
    std::snprintf(buf, sizeof buf, "sample %zu/%zu %s: %.1f s; elapsed %s, left ~%s", seen_, total_,
                  what.c_str(), seconds, clock_text(elapsed).c_str(), clock_text(eta).c_str());
    print(buf);
}

void Progress::print(const std::string &line) {
    if (quiet_) return;
    if (tty_) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
        line_open_ = true;
    } else {
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
}

void Progress::finish() {
    if (line_open_) std::fputc('\n', stderr);
    line_open_ = false;
}

}  // namespace cab_eval
