// The real models the harness tests tokenize with, loaded once per test binary on the CPU
// through the public API (the harness uses nothing else).
#pragma once

#include <string>

#include "cab/cab.h"
#include "test_paths.h"

namespace cab::test {

inline const cab_model *load_public_model(const std::string &file) {
    const std::string path = models_path(file);
    INFO("missing " << path << ": run tools/prepare_models.sh (tools/test.sh does)");
    REQUIRE(file_exists(path));
    cab_model_params params;
    cab_model_default_params(&params);
    params.device = CAB_DEVICE_CPU;
    cab_model *model = nullptr;
    const cab_status status = cab_model_load(path.c_str(), &params, &model);
    INFO(cab_last_error());
    REQUIRE(status == CAB_OK);
    return model;
}

// SmolLM2-135M-Instruct: byte-level BPE, ChatML template.
inline const cab_model *eval_smollm2() {
    static const cab_model *model = load_public_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    return model;
}

// stories260K: SentencePiece-style, no chat template, 512-token context.
inline const cab_model *eval_stories260k() {
    static const cab_model *model = load_public_model("stories260K.gguf");
    return model;
}

}  // namespace cab::test
