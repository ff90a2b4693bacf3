/* The public header must compile as strict C99 and link against libcab.so alone. This program
 * also checks, at run time, what a C caller sees across the ABI: version, NULL handling, errors. */
#include <cab/cab.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAILED: %s (last error: %s)\n", what, cab_last_error());
        ++failures;
    }
}

int main(void) {
    cab_model *model = NULL;
    cab_ctx_params params;
    check(cab_version() == CAB_VERSION_NUMBER, "header and library versions agree");
    check(cab_model_load("/nonexistent.gguf", NULL, &model) == CAB_ERR_IO, "missing file is IO");
    check(model == NULL, "model_out is NULL after a failure");
    check(strstr(cab_last_error(), "/nonexistent.gguf") != NULL, "message names the file");
    check(cab_ctx_default_params(&params) == CAB_OK, "ctx defaults");
    check(params.struct_size == sizeof(cab_ctx_params), "struct_size set by defaults");
    cab_model_free(NULL);
    cab_ctx_destroy(NULL);
    cab_sampler_free(NULL);
    printf("%d passed, %d failed\n", 6 - failures, failures);
    return failures == 0 ? 0 : 1;
}
