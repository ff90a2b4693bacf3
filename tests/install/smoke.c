/* The smallest real libcab program, built against an installed package (tools/ci/install_test.sh):
 * loads a model, greedily completes a prompt and prints the tokens.
 *   smoke MODEL.gguf */
#include <cab/cab.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "smoke: %s: %s\n", what, cab_last_error());
    return 1;
}

int main(int argc, char **argv) {
    static const char prompt[] = "Once upon a time";
    cab_model *model = NULL;
    cab_ctx *ctx = NULL;
    cab_token tokens[64];
    size_t n = 0;
    int i;
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    if (cab_version() != CAB_VERSION_NUMBER) {
        fprintf(stderr, "smoke: header %d, library %d\n", CAB_VERSION_NUMBER, cab_version());
        return 1;
    }
    if (cab_model_load(argv[1], NULL, &model) != CAB_OK) return fail("load");
    if (cab_ctx_create(model, NULL, &ctx) != CAB_OK) return fail("context");
    if (cab_tokenize(model, prompt, strlen(prompt), CAB_TOKENIZE_ADD_BOS, tokens, 64, &n) !=
            CAB_OK ||
        cab_prefill(ctx, 0, tokens, n) != CAB_OK)
        return fail("prompt");
    printf("libcab %s:", cab_version_string());
    for (i = 0; i < 8; ++i) {
        cab_seq seq = 0;
        cab_token token;
        if (cab_sample(ctx, 0, NULL, &token) != CAB_OK ||
            cab_decode(ctx, &seq, &token, 1) != CAB_OK)
            return fail("decode");
        printf(" %d", (int)token);
    }
    printf("\n");
    cab_ctx_destroy(ctx);
    cab_model_free(model);
    return 0;
}
