#include "cli_common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "cli_error.h"

namespace cab_cli {

void check(cab_status status) {
    if (status == CAB_OK) return;
    const std::string message = cab_last_error();
    throw ApiError(status, message.empty() ? cab_status_string(status) : message);
}

cab_device parse_device(const std::string &name, const std::string &text, const char *usage) {
    if (text == "auto") return CAB_DEVICE_AUTO;
    if (text == "cpu") return CAB_DEVICE_CPU;
    if (text == "cuda") return CAB_DEVICE_CUDA;
    throw UsageError("option " + name + ": '" + text + "' is not one of cpu, cuda, auto", usage);
}

const char *device_name(cab_device device) {
    switch (device) {
        case CAB_DEVICE_CPU:
            return "cpu";
        case CAB_DEVICE_CUDA:
            return "cuda";
        case CAB_DEVICE_AUTO:
            return "auto";
    }
    return "unknown";
}

namespace {

struct LoadProgress {
    const std::string *path;
    int last_percent;
};

int print_progress(float fraction, const char * /*what*/, void *user_data) {
    auto *progress = static_cast<LoadProgress *>(user_data);
    const int percent = static_cast<int>(fraction * 100.0f + 0.5f);
    if (percent != progress->last_percent) {
        progress->last_percent = percent;
        std::fprintf(stderr, "\rloading %s: %3d%%", progress->path->c_str(), percent);
        std::fflush(stderr);
    }
    return 1;
}

}  // namespace

ModelPtr load_model(const std::string &path, cab_device device) {
    cab_model_params params;
    check(cab_model_default_params(&params));
    params.device = device;
    LoadProgress progress{&path, -1};
    const bool tty = isatty(STDERR_FILENO) == 1;
    if (tty) {
        params.progress = print_progress;
        params.progress_user_data = &progress;
    } else {
        std::fprintf(stderr, "loading %s...\n", path.c_str());
    }
    cab_model *model = nullptr;
    const auto start = std::chrono::steady_clock::now();
    const cab_status status = cab_model_load(path.c_str(), &params, &model);
    if (tty && progress.last_percent >= 0) std::fputc('\n', stderr);
    check(status);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::fprintf(stderr, "loaded in %.3f s\n", took.count());
    return ModelPtr(model);
}

RunOptions default_run_options(int64_t n_predict) {
    RunOptions run;
    run.n_predict = n_predict;
    check(cab_sampler_default_params(&run.sampling));
    return run;
}

void add_run_options(std::vector<Option> &options, RunOptions &run, const char *usage) {
    auto &s = run.sampling;
    options.push_back({{"-m", "--model"}, true, [&run](const std::string &v) { run.model = v; }});
    options.push_back({{"-n", "--n-predict"}, true, [&run, usage](const std::string &v) {
                           run.n_predict = parse_int("-n", v, 1, INT32_MAX, usage);
                       }});
    options.push_back({{"--temp", "--temperature"}, true, [&s, usage](const std::string &v) {
                           s.temperature = parse_float("--temp", v, usage);
                       }});
    options.push_back({{"--top-k"}, true, [&s, usage](const std::string &v) {
                           s.top_k =
                               static_cast<int32_t>(parse_int("--top-k", v, 0, INT32_MAX, usage));
                       }});
    options.push_back({{"--top-p"}, true, [&s, usage](const std::string &v) {
                           s.top_p = parse_float("--top-p", v, usage);
                       }});
    options.push_back({{"--min-p"}, true, [&s, usage](const std::string &v) {
                           s.min_p = parse_float("--min-p", v, usage);
                       }});
    options.push_back({{"--repeat-penalty"}, true, [&s, usage](const std::string &v) {
                           s.repeat_penalty = parse_float("--repeat-penalty", v, usage);
                       }});
    options.push_back({{"--repeat-last-n"}, true, [&s, usage](const std::string &v) {
                           s.repeat_last_n = static_cast<int32_t>(
                               parse_int("--repeat-last-n", v, 0, INT32_MAX, usage));
                       }});
    options.push_back({{"--seed"}, true, [&run, usage](const std::string &v) {
                           run.sampling.seed = parse_u64("--seed", v, usage);
                           run.seed_given = true;
                       }});
    options.push_back({{"-t", "--threads"}, true, [&run, usage](const std::string &v) {
                           run.threads =
                               static_cast<int32_t>(parse_int("--threads", v, 0, 1024, usage));
                       }});
    options.push_back({{"-c", "--ctx"}, true, [&run, usage](const std::string &v) {
                           run.ctx_tokens = parse_int("--ctx", v, 1, INT64_MAX, usage);
                       }});
    options.push_back({{"--device"}, true, [&run, usage](const std::string &v) {
                           run.device = parse_device("--device", v, usage);
                       }});
    add_evict_options(options, run.evict, usage);
}

SamplerPtr make_sampler(RunOptions &run, const char *usage) {
    finish_evict_settings(run.evict, usage);
    if (!run.seed_given) {
        std::random_device rd;
        run.sampling.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    }
    cab_sampler *sampler = nullptr;
    const cab_status status = cab_sampler_create(&run.sampling, &sampler);
    if (status == CAB_ERR_INVALID_ARGUMENT) throw UsageError(cab_last_error(), usage);
    check(status);
    return SamplerPtr(sampler);
}

CtxPtr make_context(const cab_model *model, const RunOptions &run, int64_t kv_capacity_tokens,
                    const char *usage) {
    cab_ctx_params params;
    check(cab_ctx_default_params(&params));
    params.device = run.device;
    params.n_threads = run.threads;
    if (kv_capacity_tokens > 0) params.kv_capacity_tokens = kv_capacity_tokens;
    apply_evict_settings(run.evict, params);
    cab_ctx *ctx = nullptr;
    const cab_status status = cab_ctx_create(model, &params, &ctx);
    if (status == CAB_ERR_INVALID_ARGUMENT && run.evict.on)
        throw UsageError(cab_last_error(), usage);
    check(status);
    return CtxPtr(ctx);
}

}  // namespace cab_cli
