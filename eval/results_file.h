// The JSON-lines results file: one record per (sample, policy, budget), appended and flushed
// sample by sample, so that a run can stop at any time and resume where it stopped.
#pragma once

#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace cab_eval {

class ResultsFile {
public:
    // Opens (or creates) `path` for appending records of configuration `config_hash`. Reads
    // the records already there: they must all have this configuration (ConfigError naming the
    // other one otherwise). A last line cut short by a crash is removed.
    ResultsFile(const std::string &path, const std::string &config_hash);
    ~ResultsFile();
    ResultsFile(const ResultsFile &) = delete;
    ResultsFile &operator=(const ResultsFile &) = delete;

    static std::string key(const std::string &sample, const std::string &policy,
                           const std::string &budget);
    bool has(const std::string &key) const { return keys_.count(key) > 0; }
    size_t existing() const { return existing_; }

    // Appends the records (JSON objects, one line each) and flushes them to the file.
    // `keys` are theirs, in the same order.
    void append(const std::vector<std::string> &records, const std::vector<std::string> &keys);

private:
    std::string path_;
    std::FILE *file_ = nullptr;
    std::set<std::string> keys_;
    size_t existing_ = 0;
};

}  // namespace cab_eval
