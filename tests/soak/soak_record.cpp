#include "soak_record.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench_report.h"

namespace soak {

uint64_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t size_pages = 0, resident_pages = 0;
    if (!(statm >> size_pages >> resident_pages)) return 0;
    return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

namespace {

void write_sample(std::ostream &out, const Sample &s) {
    out << "{\"generated\": " << s.generated << ", \"seq_length\": " << s.seq_length
        << ", \"tokens_cached\": " << s.tokens_cached << ", \"stream_min\": " << s.stream_min
        << ", \"stream_max\": " << s.stream_max << ", \"tokens_evicted\": " << s.tokens_evicted
        << ", \"blocks_used\": " << s.blocks_used << ", \"kv_bytes\": " << s.kv_bytes
        << ", \"kv_bytes_peak\": " << s.kv_bytes_peak << ", \"rss_bytes\": " << s.rss_bytes
        << ", \"elapsed_s\": " << s.elapsed_s
        << ", \"window_tokens_per_s\": " << s.window_tokens_per_s << "}";
}

}  // namespace

bool write_json(const std::string &path, const Options &o, const RunInfo &info,
                const Result &result) {
    std::ostringstream out;
    out.precision(10);
    out << "{\n  \"program\": \"cab_soak\",\n  \"libcab\": "
        << cab::bench::json_string(info.library_version)
        << ",\n  \"device\": " << cab::bench::json_string(info.device)
        << ",\n  \"model\": {\"path\": " << cab::bench::json_string(o.model)
        << ", \"name\": " << cab::bench::json_string(info.model_name)
        << ", \"arch\": " << cab::bench::json_string(info.model_arch)
        << ", \"n_ctx_train\": " << info.n_ctx_train << ", \"n_layer\": " << info.n_layer
        << ", \"n_head_kv\": " << info.n_head_kv << ", \"head_dim\": " << info.head_dim
        << ", \"n_params\": " << info.n_params << "},\n";
    out << "  \"params\": {\"tokens\": " << o.tokens << ", \"every\": " << o.every
        << ", \"policy\": " << cab::bench::json_string(o.policy)
        << ", \"budget_tokens\": " << o.budget << ", \"slack\": " << o.slack
        << ", \"kv_capacity_tokens\": " << o.kv_capacity << ", \"threads\": " << o.threads
        << ", \"temperature\": " << o.temperature << ", \"seed\": " << o.seed
        << ", \"prompt\": " << cab::bench::json_string(o.prompt)
        << ", \"prompt_tokens\": " << info.prompt_tokens
        << ", \"warmup_tokens\": " << info.warmup_tokens
        << ", \"rss_tolerance_mib\": " << o.rss_tolerance_mib
        << ", \"rss_checked\": " << (info.rss_checked ? "true" : "false") << "},\n";
    out << "  \"bounds\": {\"kv_tokens\": " << info.kv_tokens_bound
        << ", \"kv_bytes\": " << info.kv_bytes_bound << "},\n";
    out << "  \"samples\": [";
    for (size_t i = 0; i < result.samples.size(); ++i) {
        out << (i ? ",\n    " : "\n    ");
        write_sample(out, result.samples[i]);
    }
    out << "\n  ],\n  \"eog_tokens\": " << result.eog_tokens
        << ",\n  \"duration_s\": " << result.duration_s
        << ",\n  \"passed\": " << (result.failures.empty() ? "true" : "false")
        << ",\n  \"failures\": [";
    for (size_t i = 0; i < result.failures.size(); ++i)
        out << (i ? ", " : "") << cab::bench::json_string(result.failures[i]);
    out << "]\n}\n";

    std::ofstream file(path);
    file << out.str();
    file.close();
    if (!file) {
        std::fprintf(stderr, "cab_soak: cannot write %s\n", path.c_str());
        return false;
    }
    return true;
}

}  // namespace soak
