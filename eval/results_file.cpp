#include "results_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

#include "config.h"
#include "util/json.h"
#include "util/text.h"

namespace cab_eval {

namespace {

bool file_exists(const std::string &path) {
    return access(path.c_str(), F_OK) == 0;
}

std::runtime_error io_error(const std::string &what, const std::string &path) {
    return std::runtime_error("cannot " + what + " '" + path + "': " + std::strerror(errno));
}

}  // namespace

ResultsFile::ResultsFile(const std::string &path, const std::string &config_hash) : path_(path) {
    if (file_exists(path)) {
        const std::string text = read_text_file(path);
        size_t complete = 0;  // bytes up to the end of the last complete line
        size_t start = 0;
        size_t number = 0;
        while (start < text.size()) {
            const size_t end = text.find('\n', start);
            if (end == std::string::npos) break;  // cut short: dropped below
            ++number;
            const std::string line = text.substr(start, end - start);
            start = end + 1;
            complete = start;
            if (trim(line).empty()) continue;
            std::map<std::string, std::string> f;
            if (!parse_string_fields(line, &f) || !f.count("config") || !f.count("sample") ||
                !f.count("policy") || !f.count("budget"))
                throw ConfigError(path + ":" + std::to_string(number) +
                                  ": not a cab eval record; use another --out");
            if (f["config"] != config_hash)
                throw ConfigError(path + " holds results of another configuration (" + f["config"] +
                                  ", this run is " + config_hash +
                                  "): model, device, seed, --max-new-tokens, --sinks or --window "
                                  "differ; use another --out");
            keys_.insert(key(f["sample"], f["policy"], f["budget"]));
            ++existing_;
        }
        if (complete < text.size() && truncate(path.c_str(), static_cast<off_t>(complete)) != 0)
            throw io_error("truncate the cut-short last line of", path);
    }
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr) throw io_error("open for appending", path);
}

ResultsFile::~ResultsFile() {
    if (file_ != nullptr) std::fclose(file_);
}

std::string ResultsFile::key(const std::string &sample, const std::string &policy,
                             const std::string &budget) {
    return sample + "/" + policy + "/" + budget;
}

void ResultsFile::append(const std::vector<std::string> &records,
                         const std::vector<std::string> &keys) {
    std::string block;
    for (const auto &r : records) block += r + "\n";
    if (std::fwrite(block.data(), 1, block.size(), file_) != block.size() ||
        std::fflush(file_) != 0)
        throw io_error("write to", path_);
    keys_.insert(keys.begin(), keys.end());
}

}  // namespace cab_eval
