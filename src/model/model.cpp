#include "model/model.h"

#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/device_select.h"
#include "model/arch.h"
#include "model/chat_template.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "model/weights.h"
#include "util/error.h"

namespace cab {

namespace {

std::string shape_string(int n_dims, int64_t ne0, int64_t ne1) {
    return n_dims == 1 ? "[" + std::to_string(ne0) + "]"
                       : "[" + std::to_string(ne0) + ", " + std::to_string(ne1) + "]";
}

// The file's tensor for `spec`, checked for presence, shape and a type libcab can convert.
const gguf::TensorInfo &checked_tensor(const gguf::File &file, const WeightSpec &spec) {
    const std::string expected = shape_string(spec.n_dims, spec.ne0, spec.ne1);
    const gguf::TensorInfo *t = file.tensor(spec.name);
    require(t != nullptr, CAB_ERR_FORMAT,
            file.path() + ": missing tensor " + spec.name + " (expected shape " + expected + ")");
    bool ok = t->n_dims == spec.n_dims && t->ne[0] == spec.ne0 &&
              (spec.n_dims == 1 || t->ne[1] == spec.ne1);
    require(ok, CAB_ERR_FORMAT,
            file.path() + ": tensor " + spec.name + " has shape " +
                shape_string(t->n_dims, t->ne[0], t->ne[1]) + ", expected " + expected);
    const ggml::TypeTraits &traits = ggml::traits(t->type);
    require(traits.dequantizable, CAB_ERR_UNSUPPORTED,
            file.path() + ": tensor " + spec.name + " has type " + traits.name +
                ", which libcab cannot load");
    return *t;
}

}  // namespace

Model::Model() = default;
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::string &path, const LoadOptions &options) {
    auto report = [&](float fraction, const char *what) {
        if (options.progress && !options.progress(fraction, what))
            fail(CAB_ERR_STATE, "model load cancelled by the progress callback");
    };
    std::unique_ptr<Model> m(new Model());
    m->device_ = resolve_device(options.device, options.gpu_index);
    report(0.0f, "reading model file");
    m->file_ = gguf::File::open(path);
    const gguf::File &file = *m->file_;
    m->file_bytes_ = file.size();
    m->hp_ = read_hparams(file);
    m->tokenizer_ = Tokenizer::from_gguf(file);
    require(m->tokenizer_->n_vocab() == m->hp_.n_vocab, CAB_ERR_FORMAT,
            path + ": the tokenizer has " + std::to_string(m->tokenizer_->n_vocab()) +
                " tokens but token_embd.weight has " + std::to_string(m->hp_.n_vocab) + " rows");
    m->chat_template_text_ = file.get_string("tokenizer.chat_template", "");
    m->chat_template_ = detect_chat_template(m->chat_template_text_);

#ifdef CAB_HAVE_CUDA
    m->backend_ =
        m->device_ == CAB_DEVICE_CUDA ? make_cuda_backend(options.gpu_index) : make_cpu_backend(0);
#else
    m->backend_ = make_cpu_backend(0);
#endif
    m->weights_ = std::make_unique<ModelWeights>();
    std::vector<WeightSpec> specs = weight_specs(m->hp_, *m->weights_);
    // One source per destination: consecutive specs of one field are joined (weight_specs).
    std::vector<Backend::WeightSource> sources;
    std::vector<Tensor *> dsts;
    for (const WeightSpec &spec : specs) {
        const gguf::TensorInfo &t = checked_tensor(file, spec);
        const Backend::WeightSource::Part part{t.type, t.data, spec.n_dims == 1 ? 1 : spec.ne1,
                                               spec.ne0};
        m->n_params_ += static_cast<uint64_t>(t.n_elements());
        if (dsts.empty() || dsts.back() != spec.dst) {
            sources.emplace_back(std::vector<Backend::WeightSource::Part>{part}, part.rows,
                                 part.cols);
            dsts.push_back(spec.dst);
            continue;
        }
        Backend::WeightSource &src = sources.back();
        const bool vector = spec.n_dims == 1;
        require(vector || part.cols == src.cols, CAB_ERR_INTERNAL,
                "joining " + spec.name + " to a weight of other columns");
        src.parts.push_back(part);
        if (vector) {
            src.cols += part.cols;
        } else {
            src.rows += part.rows;
        }
    }
    report(0.05f, "loading weights");
    std::vector<Tensor> tensors =
        m->backend_->load_weights(sources, [&](size_t done, size_t total) {
            if (!options.progress) return true;
            return options.progress(0.05f + 0.95f * static_cast<float>(done) / total,
                                    "loading weights");
        });
    for (size_t i = 0; i < dsts.size(); ++i) *dsts[i] = std::move(tensors[i]);
    if (m->hp_.tied_output) m->weights_->output = m->weights_->token_embd;
    report(1.0f, "done");
    return m;
}

}  // namespace cab
