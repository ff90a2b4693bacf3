// A loaded model: hyper-parameters from GGUF metadata, tokenizer, chat template and the weights
// placed on a backend. Immutable after load; shared by any number of contexts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cab/cab.h"

namespace cab {

namespace gguf {
class File;
}
class Tokenizer;
class Backend;
struct ModelWeights;

enum class Arch { Llama, Qwen2 };

enum class RopeStyle {
    Normal,  // adjacent pairs (2i, 2i+1): llama in GGUF (Q/K rows permuted by the converter)
    NeoX,    // halves (i, i + d/2): qwen2
};

struct HParams {
    Arch arch = Arch::Llama;
    std::string arch_name;  // "llama", "qwen2"
    std::string name;       // general.name
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    int32_t n_embd = 0;
    int32_t n_layer = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim = 0;
    int32_t n_ff = 0;
    float rope_theta = 10000.0f;
    float rope_freq_scale = 1.0f;  // linear scaling factor (1 / rope.scaling.factor)
    RopeStyle rope_style = RopeStyle::Normal;
    float rms_eps = 1e-5f;
    bool qkv_bias = false;
    bool tied_output = false;  // no output.weight: the LM head is token_embd
};

struct LoadOptions {
    cab_device device = CAB_DEVICE_AUTO;
    int32_t gpu_index = 0;
    // fraction in [0,1], what; returns false to cancel (load then throws Error(STATE)).
    std::function<bool(float, const char *)> progress;
};

class Model {
public:
    // Throws cab::Error (IO, FORMAT, UNSUPPORTED, OUT_OF_MEMORY, DEVICE, STATE on cancel).
    static std::unique_ptr<Model> load(const std::string &path, const LoadOptions &options);
    ~Model();

    const HParams &hparams() const { return hp_; }
    const Tokenizer &tokenizer() const { return *tokenizer_; }
    const gguf::File &file() const { return *file_; }
    cab_chat_template chat_template() const { return chat_template_; }
    const std::string &chat_template_text() const { return chat_template_text_; }
    uint64_t n_params() const { return n_params_; }
    uint64_t file_bytes() const { return file_bytes_; }
    cab_device device() const { return device_; }  // where the weights live (CPU or CUDA)
    Backend &backend() const { return *backend_; }
    const ModelWeights &weights() const { return *weights_; }

private:
    Model();
    HParams hp_;
    std::unique_ptr<gguf::File> file_;
    std::unique_ptr<Tokenizer> tokenizer_;
    cab_chat_template chat_template_ = CAB_CHAT_TEMPLATE_NONE;
    std::string chat_template_text_;
    uint64_t n_params_ = 0;
    uint64_t file_bytes_ = 0;
    cab_device device_ = CAB_DEVICE_CPU;
    std::unique_ptr<Backend> backend_;
    std::unique_ptr<ModelWeights> weights_;
};

}  // namespace cab
