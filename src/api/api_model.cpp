// Model loading and description.
#include <algorithm>
#include <cstring>

#include "api/guard.h"
#include "api/handles.h"
#include "model/model.h"
#include "model/tokenizer.h"

using cab::api::guard;
using cab::api::require_arg;
using cab::api::require_not_null;

namespace {

cab_model_params model_defaults() {
    cab_model_params p{};
    p.struct_size = sizeof(cab_model_params);
    p.device = CAB_DEVICE_AUTO;
    p.gpu_index = 0;
    p.progress = nullptr;
    p.progress_user_data = nullptr;
    return p;
}

void copy_cstr(char *dst, size_t cap, const std::string &src) {
    size_t n = std::min(cap - 1, src.size());
    std::memcpy(dst, src.data(), n);
    dst[n] = '\0';
}

}  // namespace

extern "C" {

cab_status cab_model_default_params(cab_model_params *params) {
    return guard(__func__, [&] {
        require_not_null(params, "params");
        *params = model_defaults();
    });
}

cab_status cab_model_load(const char *path, const cab_model_params *params,
                          cab_model **model_out) {
    return guard(__func__, [&] {
        require_not_null(model_out, "model_out");
        *model_out = nullptr;
        require_not_null(path, "path");
        cab_model_params p = cab::api::read_params(params, model_defaults(), "params");
        const int device = cab::api::enum_int(p.device);
        require_arg(device == CAB_DEVICE_AUTO || device == CAB_DEVICE_CPU ||
                        device == CAB_DEVICE_CUDA,
                    "params->device is not a cab_device value");
        require_arg(p.gpu_index >= 0, "params->gpu_index is negative");
        cab::LoadOptions options;
        options.device = p.device;
        options.gpu_index = p.gpu_index;
        if (p.progress != nullptr) {
            options.progress = [fn = p.progress, user = p.progress_user_data](
                                   float fraction, const char *what) {
                return fn(fraction, what, user) != 0;
            };
        }
        auto handle = std::make_unique<cab_model>();
        handle->impl = cab::Model::load(path, options);
        *model_out = handle.release();
    });
}

void cab_model_free(cab_model *model) { delete model; }

cab_status cab_model_info_get(const cab_model *model, cab_model_info *info) {
    return guard(__func__, [&] {
        require_not_null(model, "model");
        require_not_null(info, "info");
        const cab::Model &m = *model->impl;
        const cab::HParams &hp = m.hparams();
        cab_model_info out{};
        copy_cstr(out.arch, sizeof(out.arch), hp.arch_name);
        copy_cstr(out.name, sizeof(out.name), hp.name);
        out.n_vocab = hp.n_vocab;
        out.n_ctx_train = hp.n_ctx_train;
        out.n_embd = hp.n_embd;
        out.n_layer = hp.n_layer;
        out.n_head = hp.n_head;
        out.n_head_kv = hp.n_head_kv;
        out.head_dim = hp.head_dim;
        out.n_ff = hp.n_ff;
        out.rope_theta = hp.rope_theta;
        out.rms_eps = hp.rms_eps;
        out.bos = m.tokenizer().bos();
        out.eos = m.tokenizer().eos();
        out.eot = m.tokenizer().eot();
        out.chat_template = m.chat_template();
        out.n_params = m.n_params();
        out.file_bytes = m.file_bytes();
        out.device = m.device();
        cab::api::write_out(info, out, "info");
    });
}

}  // extern "C"
