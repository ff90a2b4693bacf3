// What every benchmark records next to its figures: the machine, the commit, the command, the
// date; and a minimal JSON writer for bench/results/*.json.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/utsname.h>

namespace cab::bench {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The output of a shell command, trimmed; "unknown" when it fails.
inline std::string shell(const std::string &command) {
    std::string out;
    if (FILE *p = popen((command + " 2>/dev/null").c_str(), "r")) {
        char buf[256];
        while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
        if (pclose(p) != 0) out.clear();
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out.empty() ? "unknown" : out;
}

inline std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

inline std::string today() {
    const std::time_t now = std::time(nullptr);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&now));
    return buf;
}

inline std::string json_string(const std::string &s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// A JSON object built field by field; values are already-encoded JSON.
class JsonObject {
public:
    JsonObject &add(const std::string &key, const std::string &json) {
        fields_.push_back(json_string(key) + ": " + json);
        return *this;
    }
    JsonObject &add_string(const std::string &key, const std::string &value) {
        return add(key, json_string(value));
    }
    JsonObject &add_number(const std::string &key, double value) {
        std::ostringstream s;
        s.precision(6);
        s << value;
        return add(key, s.str());
    }
    std::string str(const std::string &indent = "") const {
        std::string out = "{";
        for (size_t i = 0; i < fields_.size(); ++i)
            out += (i ? "," : "") + std::string("\n") + indent + "  " + fields_[i];
        return out + "\n" + indent + "}";
    }

private:
    std::vector<std::string> fields_;
};

inline std::string json_array(const std::vector<std::string> &items, const std::string &indent) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i)
        out += (i ? "," : "") + std::string("\n") + indent + "  " + items[i];
    return out + "\n" + indent + "]";
}

// The machine, commit and command as one JSON object. The commit is $CAB_COMMIT when set (a
// copy of the tree whose git metadata lags behind it, as on the GPU machine), else the source
// folder's HEAD.
inline std::string provenance(int argc, char **argv, const std::string &source_dir) {
    utsname u{};
    uname(&u);
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    JsonObject machine;
    machine.add_string("cpu", cpu_model())
        .add_number("hardware_threads", std::thread::hardware_concurrency())
        .add_string("os", std::string(u.sysname) + " " + u.release + " " + u.machine);
    const char *commit = std::getenv("CAB_COMMIT");
    JsonObject p;
    p.add("machine", machine.str("  "))
        .add_string("commit", commit ? std::string(commit)
                                     : shell("git -C '" + source_dir + "' rev-parse HEAD"))
        .add_string("tree", commit ? std::string("given by CAB_COMMIT")
                                   : shell("git -C '" + source_dir +
                                           "' status --porcelain -uno | "
                                           "grep -q . && echo modified || echo clean"))
        .add_string("command", command)
        .add_string("date", today());
    return p.str();
}

}  // namespace cab::bench
