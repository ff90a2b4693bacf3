/*
 * Generates text with libcab: loads a GGUF model, prefills a prompt (through the model's chat
 * template when it has one), decodes greedily and prints the tokens per second of both phases
 * and what the KV cache holds.
 *
 *   cab_generate MODEL.gguf "PROMPT" [MAX_TOKENS] [--policy NAME] [--budget TOKENS]
 *
 * With --budget, the context evicts automatically: once a sequence's streams hold more than the
 * budget plus the default slack (64 tokens), the policy (default "cab") shrinks them back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cab/cab.h>

/* Prints the failed call's message and exits. */
static void check(cab_status status, const char *what) {
    if (status == CAB_OK) return;
    fprintf(stderr, "cab_generate: %s failed: %s (%s)\n", what, cab_last_error(),
            cab_status_string(status));
    exit(1);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The prompt as the model expects it: one user turn in its chat template, or the raw text. */
static char *prompt_text(const cab_model *model, const char *prompt, cab_chat_template tmpl) {
    if (tmpl == CAB_CHAT_TEMPLATE_NONE) return strdup(prompt);
    cab_chat_message message = {"user", prompt};
    size_t n = 0;
    cab_status status = cab_chat_format(model, &message, 1, 1, NULL, 0, &n);
    if (status != CAB_ERR_BUFFER_TOO_SMALL) check(status, "cab_chat_format");
    char *text = malloc(n + 1);
    if (text == NULL) exit(1);
    check(cab_chat_format(model, &message, 1, 1, text, n + 1, &n), "cab_chat_format");
    return text;
}

/* Tokens of `text` (caller frees); the size is asked first, as the ABI's buffer rule allows. */
static cab_token *tokenize(const cab_model *model, const char *text, uint32_t flags, size_t *n) {
    cab_status status = cab_tokenize(model, text, strlen(text), flags, NULL, 0, n);
    if (status != CAB_ERR_BUFFER_TOO_SMALL && status != CAB_OK) check(status, "cab_tokenize");
    cab_token *tokens = malloc((*n + 1) * sizeof *tokens);
    if (tokens == NULL) exit(1);
    check(cab_tokenize(model, text, strlen(text), flags, tokens, *n, n), "cab_tokenize");
    return tokens;
}

/* budget 0: no eviction. The library copies the eviction options at create. */
static cab_ctx *make_context(const cab_model *model, int64_t capacity, const char *policy,
                             int budget) {
    cab_ctx_params params;
    check(cab_ctx_default_params(&params), "cab_ctx_default_params");
    params.kv_capacity_tokens = capacity;
    cab_evict_params evict;
    check(cab_evict_default_params(&evict), "cab_evict_default_params");
    if (budget > 0) {
        evict.policy = policy;
        evict.budget_unit = CAB_BUDGET_TOKENS;
        evict.budget_tokens = budget;
        params.auto_evict = &evict;
    }
    cab_ctx *ctx = NULL;
    check(cab_ctx_create(model, &params, &ctx), "cab_ctx_create");
    return ctx;
}

static void print_piece(const cab_model *model, cab_token token) {
    char piece[64];
    size_t n = 0;
    if (cab_token_to_piece(model, token, piece, sizeof piece, &n) == CAB_OK)
        fwrite(piece, 1, n, stdout);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *positional[3] = {NULL, NULL, NULL};
    int n_positional = 0;
    const char *policy = "cab";
    int budget = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
            policy = argv[++i];
        else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc)
            budget = atoi(argv[++i]);
        else if (n_positional < 3)
            positional[n_positional++] = argv[i];
        else
            n_positional = 4;
    }
    if (n_positional < 2 || n_positional > 3) {
        fprintf(stderr,
                "usage: %s MODEL.gguf \"PROMPT\" [MAX_TOKENS] [--policy NAME] [--budget TOKENS]\n",
                argv[0]);
        return 2;
    }
    const int max_tokens = n_positional == 3 ? atoi(positional[2]) : 64;

    cab_model *model = NULL;
    check(cab_model_load(positional[0], NULL, &model), "cab_model_load");
    cab_model_info info;
    info.struct_size = sizeof info;
    check(cab_model_info_get(model, &info), "cab_model_info_get");

    char *text = prompt_text(model, positional[1], info.chat_template);
    uint32_t flags = CAB_TOKENIZE_ADD_BOS | CAB_TOKENIZE_PARSE_SPECIAL;
    size_t n_prompt = 0;
    cab_token *prompt = tokenize(model, text, flags, &n_prompt);
    /* Room for the prompt and every generated token (more than eviction needs). */
    cab_ctx *ctx = make_context(model, (int64_t)n_prompt + max_tokens + 1, policy, budget);

    double start = now_seconds();
    check(cab_prefill(ctx, 0, prompt, n_prompt), "cab_prefill");
    double prefill_s = now_seconds() - start;

    const cab_seq seq = 0;
    int generated = 0;
    start = now_seconds();
    while (generated < max_tokens) {
        cab_token token;
        check(cab_sample(ctx, seq, NULL, &token), "cab_sample");
        if (cab_token_is_eog(model, token)) break;
        print_piece(model, token);
        ++generated;
        check(cab_decode(ctx, &seq, &token, 1), "cab_decode");
    }
    double decode_s = now_seconds() - start;

    cab_kv_stats stats;
    stats.struct_size = sizeof stats;
    check(cab_kv_stats_get(ctx, seq, &stats), "cab_kv_stats_get");
    printf("\n\nprompt:    %zu tokens, %.1f tokens/s\n", n_prompt,
           prefill_s > 0 ? n_prompt / prefill_s : 0.0);
    printf("generated: %d tokens, %.1f tokens/s\n", generated,
           decode_s > 0 ? generated / decode_s : 0.0);
    printf(
        "kv cache:  %lld positions, %lld tokens cached over %d layers x %d kv heads "
        "(streams hold %d..%d), %lld tokens evicted, %lld / %lld blocks, %.2f / %.2f MiB\n",
        (long long)stats.seq_length, (long long)stats.tokens_cached, stats.n_layer, stats.n_head_kv,
        stats.stream_min, stats.stream_max, (long long)stats.tokens_evicted,
        (long long)stats.blocks_used, (long long)stats.blocks_total, stats.bytes_used / 1048576.0,
        stats.bytes_total / 1048576.0);

    cab_ctx_destroy(ctx);
    free(prompt);
    free(text);
    cab_model_free(model);
    return 0;
}
