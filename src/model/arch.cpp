#include "model/arch.h"

#include <string>

#include "model/gguf.h"
#include "util/error.h"

namespace cab {

namespace {

int32_t positive(const gguf::File &f, const std::string &key, int64_t value) {
    require(value > 0 && value <= (int64_t{1} << 30), CAB_ERR_FORMAT,
            f.path() + ": metadata " + key + " = " + std::to_string(value) + " is out of range");
    return static_cast<int32_t>(value);
}

// Linear RoPE scaling is the only kind implemented; others would silently change the model.
float rope_freq_scale(const gguf::File &f, const std::string &arch) {
    std::string type = f.get_string(arch + ".rope.scaling.type", "");
    float factor = f.get_f32(arch + ".rope.scaling.factor", 0.0f);
    if (type.empty()) {
        // Older files: {arch}.rope.scale_linear.
        float legacy = f.get_f32(arch + ".rope.scale_linear", 0.0f);
        if (legacy > 0.0f) return 1.0f / legacy;
        return 1.0f;
    }
    if (type == "none") return 1.0f;
    require(type == "linear", CAB_ERR_UNSUPPORTED,
            f.path() + ": " + arch + ".rope.scaling.type '" + type +
                "' is not supported (only none and linear)");
    if (factor == 0.0f) return 1.0f;
    require(factor > 0.0f, CAB_ERR_FORMAT,
            f.path() + ": " + arch + ".rope.scaling.factor must be positive");
    return 1.0f / factor;
}

}  // namespace

HParams read_hparams(const gguf::File &f) {
    HParams hp;
    hp.arch_name = f.get_string("general.architecture");
    if (hp.arch_name == "llama") {
        hp.arch = Arch::Llama;
        hp.rope_style = RopeStyle::Normal;
    } else if (hp.arch_name == "qwen2") {
        hp.arch = Arch::Qwen2;
        hp.rope_style = RopeStyle::NeoX;
    } else {
        fail(CAB_ERR_UNSUPPORTED,
             f.path() + ": architecture '" + hp.arch_name + "' is not supported (llama, qwen2)");
    }
    const std::string a = hp.arch_name + ".";
    hp.name = f.get_string("general.name", "");
    hp.n_embd = positive(f, a + "embedding_length", f.get_u32(a + "embedding_length"));
    hp.n_layer = positive(f, a + "block_count", f.get_u32(a + "block_count"));
    // Each layer has at least 9 tensors: a block count the tensor table cannot hold would
    // otherwise size the layer table (weight_specs) before any tensor is looked up.
    constexpr size_t kMinTensorsPerLayer = 9;
    require(static_cast<size_t>(hp.n_layer) <= f.tensors().size() / kMinTensorsPerLayer,
            CAB_ERR_FORMAT,
            f.path() + ": " + a + "block_count " + std::to_string(hp.n_layer) + " needs at least " +
                std::to_string(kMinTensorsPerLayer * static_cast<size_t>(hp.n_layer)) +
                " tensors but the file has " + std::to_string(f.tensors().size()));
    hp.n_ff = positive(f, a + "feed_forward_length", f.get_u32(a + "feed_forward_length"));
    hp.n_head = positive(f, a + "attention.head_count", f.get_u32(a + "attention.head_count"));
    hp.n_head_kv = positive(f, a + "attention.head_count_kv",
                            f.get_u32(a + "attention.head_count_kv", hp.n_head));
    hp.n_ctx_train = static_cast<int32_t>(f.get_u32(a + "context_length", 0));
    require(hp.n_head % hp.n_head_kv == 0, CAB_ERR_FORMAT,
            f.path() + ": attention.head_count " + std::to_string(hp.n_head) +
                " is not a multiple of attention.head_count_kv " + std::to_string(hp.n_head_kv));
    if (f.find(a + "attention.key_length")) {
        hp.head_dim =
            positive(f, a + "attention.key_length", f.get_u32(a + "attention.key_length"));
    } else {
        require(hp.n_embd % hp.n_head == 0, CAB_ERR_FORMAT,
                f.path() + ": embedding_length " + std::to_string(hp.n_embd) +
                    " is not a multiple of attention.head_count " + std::to_string(hp.n_head));
        hp.head_dim = hp.n_embd / hp.n_head;
    }
    require(
        f.get_u32(a + "attention.value_length", hp.head_dim) == static_cast<uint32_t>(hp.head_dim),
        CAB_ERR_UNSUPPORTED, f.path() + ": attention.value_length differs from key_length");
    require(hp.head_dim % 2 == 0, CAB_ERR_FORMAT,
            f.path() + ": head dimension " + std::to_string(hp.head_dim) + " is odd");
    uint32_t n_rot = f.get_u32(a + "rope.dimension_count", hp.head_dim);
    require(n_rot == static_cast<uint32_t>(hp.head_dim), CAB_ERR_UNSUPPORTED,
            f.path() + ": " + a + "rope.dimension_count " + std::to_string(n_rot) +
                " differs from the head dimension " + std::to_string(hp.head_dim) +
                " (partial rotary embeddings are not supported)");
    hp.rms_eps = f.get_f32(a + "attention.layer_norm_rms_epsilon");
    require(hp.rms_eps > 0.0f && hp.rms_eps < 1.0f, CAB_ERR_FORMAT,
            f.path() + ": " + a + "attention.layer_norm_rms_epsilon is out of range");
    hp.rope_theta = f.get_f32(a + "rope.freq_base", 10000.0f);
    require(hp.rope_theta > 0.0f, CAB_ERR_FORMAT, f.path() + ": " + a + "rope.freq_base <= 0");
    hp.rope_freq_scale = rope_freq_scale(f, hp.arch_name);

    const gguf::TensorInfo *embd = f.tensor("token_embd.weight");
    require(embd != nullptr, CAB_ERR_FORMAT, f.path() + ": missing tensor token_embd.weight");
    require(embd->n_dims == 2 && embd->ne[0] == hp.n_embd, CAB_ERR_FORMAT,
            f.path() + ": tensor token_embd.weight must have shape [" + std::to_string(hp.n_embd) +
                ", n_vocab]");
    hp.n_vocab = positive(f, "token_embd.weight rows", embd->ne[1]);
    hp.tied_output = f.tensor("output.weight") == nullptr;
    // qwen2 always has Q/K/V biases; a llama file may carry them too.
    hp.qkv_bias = hp.arch == Arch::Qwen2 || f.tensor("blk.0.attn_q.bias") != nullptr;
    return hp;
}

std::vector<WeightSpec> weight_specs(const HParams &hp, ModelWeights &w) {
    const int64_t e = hp.n_embd, q = int64_t{hp.n_head} * hp.head_dim,
                  kv = int64_t{hp.n_head_kv} * hp.head_dim;
    std::vector<WeightSpec> specs = {
        {"token_embd.weight", 2, e, hp.n_vocab, &w.token_embd},
        {"output_norm.weight", 1, e, 1, &w.output_norm},
    };
    if (!hp.tied_output) specs.push_back({"output.weight", 2, e, hp.n_vocab, &w.output});
    w.layers.assign(static_cast<size_t>(hp.n_layer), LayerWeights{});
    for (int32_t i = 0; i < hp.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        LayerWeights &l = w.layers[static_cast<size_t>(i)];
        specs.push_back({b + "attn_norm.weight", 1, e, 1, &l.attn_norm});
        specs.push_back({b + "attn_q.weight", 2, e, q, &l.wqkv});
        specs.push_back({b + "attn_k.weight", 2, e, kv, &l.wqkv});
        specs.push_back({b + "attn_v.weight", 2, e, kv, &l.wqkv});
        if (hp.qkv_bias) {
            specs.push_back({b + "attn_q.bias", 1, q, 1, &l.bqkv});
            specs.push_back({b + "attn_k.bias", 1, kv, 1, &l.bqkv});
            specs.push_back({b + "attn_v.bias", 1, kv, 1, &l.bqkv});
        }
        specs.push_back({b + "attn_output.weight", 2, q, e, &l.wo});
        specs.push_back({b + "ffn_norm.weight", 1, e, 1, &l.ffn_norm});
        specs.push_back({b + "ffn_gate.weight", 2, e, hp.n_ff, &l.ffn_gate_up});
        specs.push_back({b + "ffn_up.weight", 2, e, hp.n_ff, &l.ffn_gate_up});
        specs.push_back({b + "ffn_down.weight", 2, hp.n_ff, e, &l.ffn_down});
    }
    return specs;
}

}  // namespace cab
