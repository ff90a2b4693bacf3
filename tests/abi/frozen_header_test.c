/* A program built against the header of the first release, tests/abi/frozen/cab-0.1.0.h, run
 * against the library being built: every later 0.x library must serve it (docs/ABI.md).
 * - It takes the address of every function that header declares, so each must still be
 *   exported (under the version node the program recorded at link time).
 * - Every struct it hands to the library sits in a buffer with guard bytes behind it: the
 *   library may write only what the 0.1.0 struct holds, and must accept 0.1.0 struct sizes.
 * - It runs the whole 0.1.0 API on a model and checks what it gets back for consistency.
 *   usage: frozen_header_test MODEL.gguf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frozen/cab-0.1.0.h"

static int failures = 0;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAILED line %d: %s (cab_last_error: %s)\n", __LINE__, #cond, \
                    cab_last_error());                                                    \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

/* The 0.1.0 API, in header order. */
static void (*const frozen_api[])(void) = {
    (void (*)(void))cab_version,
    (void (*)(void))cab_version_string,
    (void (*)(void))cab_last_error,
    (void (*)(void))cab_status_string,
    (void (*)(void))cab_model_default_params,
    (void (*)(void))cab_model_load,
    (void (*)(void))cab_model_free,
    (void (*)(void))cab_model_info_get,
    (void (*)(void))cab_tokenize,
    (void (*)(void))cab_token_to_piece,
    (void (*)(void))cab_detokenize,
    (void (*)(void))cab_token_is_eog,
    (void (*)(void))cab_chat_format,
    (void (*)(void))cab_ctx_default_params,
    (void (*)(void))cab_ctx_create,
    (void (*)(void))cab_ctx_destroy,
    (void (*)(void))cab_prefill,
    (void (*)(void))cab_decode,
    (void (*)(void))cab_logits,
    (void (*)(void))cab_seq_length,
    (void (*)(void))cab_seq_reset,
    (void (*)(void))cab_sampler_default_params,
    (void (*)(void))cab_sampler_create,
    (void (*)(void))cab_sampler_free,
    (void (*)(void))cab_sample,
    (void (*)(void))cab_kv_stats_get,
    (void (*)(void))cab_kv_lengths,
};

/* A 0.1.0 struct followed by guard bytes that the library must leave alone. */
enum { kGuardBytes = 64, kGuardByte = 0xA5 };
typedef struct guarded {
    unsigned char bytes[512 + kGuardBytes];
} guarded;

static void *guard_init(guarded *g, size_t struct_size) {
    memset(g->bytes, 0, struct_size);
    memset(g->bytes + struct_size, kGuardByte, kGuardBytes);
    return g->bytes;
}

static int guard_intact(const guarded *g, size_t struct_size) {
    size_t i;
    for (i = 0; i < kGuardBytes; ++i)
        if (g->bytes[struct_size + i] != kGuardByte) return 0;
    return 1;
}

static void check_version(void) {
    static const char *const names[] = {"CAB_OK",
                                        "CAB_ERR_INVALID_ARGUMENT",
                                        "CAB_ERR_IO",
                                        "CAB_ERR_FORMAT",
                                        "CAB_ERR_UNSUPPORTED",
                                        "CAB_ERR_OUT_OF_MEMORY",
                                        "CAB_ERR_KV_FULL",
                                        "CAB_ERR_DEVICE",
                                        "CAB_ERR_STATE",
                                        "CAB_ERR_BUFFER_TOO_SMALL",
                                        "CAB_ERR_INTERNAL"};
    int code;
    CHECK(cab_version() / 10000 == CAB_VERSION_MAJOR);
    CHECK(cab_version() >= CAB_VERSION_NUMBER);
    CHECK(cab_version_string()[0] == '0' && cab_version_string()[1] == '.');
    /* The status codes are pinned: their values and names never change. */
    for (code = 0; code >= CAB_ERR_INTERNAL; --code)
        CHECK(strcmp(cab_status_string((cab_status)code), names[-code]) == 0);
}

static void check_defaults(void) {
    guarded g;
    cab_model_params *mp = guard_init(&g, sizeof *mp);
    cab_ctx_params *cp;
    cab_sampler_params *sp;
    CHECK(cab_model_default_params(mp) == CAB_OK);
    CHECK(guard_intact(&g, sizeof *mp) && mp->struct_size == sizeof *mp);
    CHECK(mp->device == CAB_DEVICE_AUTO && mp->progress == NULL);
    cp = guard_init(&g, sizeof *cp);
    CHECK(cab_ctx_default_params(cp) == CAB_OK);
    CHECK(guard_intact(&g, sizeof *cp) && cp->struct_size == sizeof *cp);
    CHECK(cp->n_seq_max == 1 && cp->kv_capacity_tokens == 4096 && cp->kv_block_size == 16);
    sp = guard_init(&g, sizeof *sp);
    CHECK(cab_sampler_default_params(sp) == CAB_OK);
    CHECK(guard_intact(&g, sizeof *sp) && sp->struct_size == sizeof *sp);
    CHECK(sp->temperature == 0.0f && sp->top_p == 1.0f);
}

static void check_errors(void) {
    cab_model *model = (cab_model *)&failures;
    CHECK(cab_model_load("/nonexistent/frozen.gguf", NULL, &model) == CAB_ERR_IO);
    CHECK(model == NULL);
    CHECK(strstr(cab_last_error(), "/nonexistent/frozen.gguf") != NULL);
    CHECK(cab_model_default_params(NULL) == CAB_ERR_INVALID_ARGUMENT);
    cab_model_free(NULL);
    cab_ctx_destroy(NULL);
    cab_sampler_free(NULL);
}

/* Prefills `prompt` into sequence 0 and decodes `n` greedy tokens into `out`. */
static void generate(cab_ctx *ctx, const cab_token *prompt, size_t n_prompt, cab_sampler *sampler,
                     cab_token *out, size_t n) {
    size_t i;
    cab_seq seq = 0;
    CHECK(cab_seq_reset(ctx, 0) == CAB_OK);
    CHECK(cab_prefill(ctx, 0, prompt, n_prompt) == CAB_OK);
    for (i = 0; i < n; ++i) {
        CHECK(cab_sample(ctx, 0, sampler, &out[i]) == CAB_OK);
        CHECK(cab_decode(ctx, &seq, &out[i], 1) == CAB_OK);
    }
}

static void check_model(const char *path) {
    static const char text[] = "Hello, frozen ABI!";
    guarded g, g_info;
    cab_model *model = NULL;
    cab_ctx *ctx = NULL;
    cab_sampler *sampler = NULL;
    cab_model_params *mp = guard_init(&g, sizeof *mp);
    cab_model_info *info = guard_init(&g_info, sizeof *info);
    cab_ctx_params *cp;
    cab_sampler_params *sp;
    cab_kv_stats *stats;
    cab_token tokens[64], first[4], again[4];
    const float *logits = NULL;
    char buf[256];
    size_t n = 0, n_text = 0, n_lengths = 0;
    int64_t length = 0;
    int32_t lengths[256];
    cab_chat_message msg = {"user", "hi"};
    cab_status chat;

    CHECK(cab_model_default_params(mp) == CAB_OK);
    mp->device = CAB_DEVICE_CPU;
    CHECK(cab_model_load(path, mp, &model) == CAB_OK && model != NULL);
    if (model == NULL) return;
    CHECK(guard_intact(&g, sizeof *mp));
    info->struct_size = sizeof *info;
    CHECK(cab_model_info_get(model, info) == CAB_OK && guard_intact(&g_info, sizeof *info));
    CHECK(info->n_vocab > 0 && info->n_layer > 0 && info->n_head_kv > 0 && info->arch[0] != 0);

    CHECK(cab_tokenize(model, text, strlen(text), 0, NULL, 0, &n) == CAB_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 0 && n <= 64);
    CHECK(cab_tokenize(model, text, strlen(text), 0, tokens, 64, &n) == CAB_OK);
    CHECK(cab_detokenize(model, tokens, n, 0, buf, sizeof buf, &n_text) == CAB_OK);
    CHECK(n_text == strlen(text) && strcmp(buf, text) == 0);
    CHECK(cab_token_to_piece(model, tokens[0], buf, sizeof buf, &n_text) == CAB_OK);
    CHECK(n_text > 0 && strncmp(buf, text, n_text) == 0);
    CHECK(info->eos < 0 || cab_token_is_eog(model, info->eos) == 1);
    chat = cab_chat_format(model, &msg, 1, 1, buf, sizeof buf, &n_text);
    CHECK(chat == (info->chat_template == CAB_CHAT_TEMPLATE_NONE ? CAB_ERR_UNSUPPORTED : CAB_OK));

    cp = guard_init(&g, sizeof *cp);
    CHECK(cab_ctx_default_params(cp) == CAB_OK);
    cp->device = CAB_DEVICE_CPU;
    cp->n_threads = 1;
    cp->kv_capacity_tokens = 256;
    CHECK(cab_ctx_create(model, cp, &ctx) == CAB_OK && ctx != NULL);
    CHECK(guard_intact(&g, sizeof *cp));
    if (ctx == NULL) {
        cab_model_free(model);
        return;
    }
    CHECK(cab_logits(ctx, 0, &logits) == CAB_ERR_STATE);
    generate(ctx, tokens, n, NULL, first, 4);
    CHECK(cab_seq_length(ctx, 0, &length) == CAB_OK && length == (int64_t)n + 4);
    CHECK(cab_logits(ctx, 0, &logits) == CAB_OK && logits != NULL);

    stats = guard_init(&g, sizeof *stats);
    stats->struct_size = sizeof *stats;
    CHECK(cab_kv_stats_get(ctx, 0, stats) == CAB_OK && guard_intact(&g, sizeof *stats));
    CHECK(stats->seq_length == length && stats->n_layer == info->n_layer);
    CHECK(stats->tokens_cached == length * info->n_layer * info->n_head_kv);
    CHECK(cab_kv_lengths(ctx, 0, lengths, 256, &n_lengths) == CAB_OK);
    CHECK(n_lengths == (size_t)(info->n_layer * info->n_head_kv) && lengths[0] == length);

    /* Greedy decoding is deterministic, with a NULL sampler or a 0.1.0 default one. */
    sp = guard_init(&g, sizeof *sp);
    CHECK(cab_sampler_default_params(sp) == CAB_OK);
    CHECK(cab_sampler_create(sp, &sampler) == CAB_OK && guard_intact(&g, sizeof *sp));
    generate(ctx, tokens, n, sampler, again, 4);
    CHECK(memcmp(first, again, sizeof first) == 0);

    cab_sampler_free(sampler);
    cab_ctx_destroy(ctx);
    cab_model_free(model);
}

int main(int argc, char **argv) {
    size_t i;
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    for (i = 0; i < sizeof frozen_api / sizeof frozen_api[0]; ++i) CHECK(frozen_api[i] != NULL);
    check_version();
    check_defaults();
    check_errors();
    check_model(argv[1]);
    if (failures != 0) {
        fprintf(stderr, "frozen 0.1.0 header: %d checks failed against libcab %s\n", failures,
                cab_version_string());
        return 1;
    }
    printf("frozen 0.1.0 header: %zu functions, every check passed against libcab %s\n",
           sizeof frozen_api / sizeof frozen_api[0], cab_version_string());
    return 0;
}
