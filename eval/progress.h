// Progress of a run on stderr: the sample, its number of all, and the time left, estimated
// from the prompt tokens done so far (longer prompts take longer).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace cab_eval {

class Progress {
public:
    // total_tokens: the target prompt tokens of every sample still to run.
    Progress(size_t total_samples, int64_t total_tokens, bool quiet);

    // A sample that was already in the results file.
    void skip(int64_t tokens);
    // A sample just run: what it was and how long it took.
    void done(const std::string &what, int64_t tokens, double seconds);
    // Ends the line a terminal progress display leaves open.
    void finish();

private:
    void print(const std::string &line);

    size_t total_;
    size_t seen_ = 0;
    int64_t tokens_left_;
    int64_t tokens_run_ = 0;
    std::chrono::steady_clock::time_point start_;
    bool quiet_;
    bool tty_;
    bool line_open_ = false;
};

}  // namespace cab_eval
