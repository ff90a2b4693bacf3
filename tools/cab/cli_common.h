// Pieces shared by the subcommands: owning handles, model loading with progress, the options
// that generate and chat have in common, and creating the context and sampler from them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "cab/cab.h"
#include "evict_options.h"

namespace cab_cli {

struct ModelDeleter {
    void operator()(cab_model *m) const { cab_model_free(m); }
};
struct CtxDeleter {
    void operator()(cab_ctx *c) const { cab_ctx_destroy(c); }
};
struct SamplerDeleter {
    void operator()(cab_sampler *s) const { cab_sampler_free(s); }
};
using ModelPtr = std::unique_ptr<cab_model, ModelDeleter>;
using CtxPtr = std::unique_ptr<cab_ctx, CtxDeleter>;
using SamplerPtr = std::unique_ptr<cab_sampler, SamplerDeleter>;

// "cpu", "cuda" or "auto".
cab_device parse_device(const std::string &name, const std::string &text, const char *usage);
const char *device_name(cab_device device);

// Loads a model, reporting progress on stderr: a percentage when stderr is a terminal, else
// one "loading PATH..." line.
ModelPtr load_model(const std::string &path, cab_device device);

// Options of `generate` and `chat`.
struct RunOptions {
    std::string model;
    int64_t n_predict = 0;
    cab_sampler_params sampling{};
    bool seed_given = false;
    int32_t threads = 0;     // 0: the library's default (every core)
    int64_t ctx_tokens = 0;  // 0: chosen by the command
    cab_device device = CAB_DEVICE_AUTO;
    EvictSettings evict;
};

// RunOptions with the library's sampler defaults and n_predict.
RunOptions default_run_options(int64_t n_predict);

// Appends the options of RunOptions (-m, -n, sampling, --threads, --ctx, --device, eviction) to
// `options`.
void add_run_options(std::vector<Option> &options, RunOptions &run, const char *usage);

// Creates the sampler; a random seed is drawn unless --seed was given. Parameters the library
// rejects are usage errors. Call before loading the model so that bad options fail fast.
// Also checks the eviction options.
SamplerPtr make_sampler(RunOptions &run, const char *usage);

// Eviction parameters the library rejects (an unknown policy...) are usage errors.
CtxPtr make_context(const cab_model *model, const RunOptions &run, int64_t kv_capacity_tokens,
                    const char *usage);

}  // namespace cab_cli
