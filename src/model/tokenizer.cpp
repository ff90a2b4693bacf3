// Tokenizer::from_gguf: picks the tokenizer that tokenizer.ggml.model names.
#include "model/tokenizer.h"

#include "model/bpe_tokenizer.h"
#include "model/gguf.h"
#include "model/spm_tokenizer.h"
#include "util/error.h"

namespace cab {

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File &file) {
    const std::string model = file.get_string("tokenizer.ggml.model");
    if (model == "gpt2") return std::make_unique<BpeTokenizer>(file);
    if (model == "llama") return std::make_unique<SpmTokenizer>(file);
    fail(CAB_ERR_UNSUPPORTED,
         "tokenizer.ggml.model '" + model + "' is not supported (libcab reads 'gpt2' and 'llama')");
}

}  // namespace cab
