/* A stand-in libcab for tests/abi/abi_compare_selftest.sh: a few functions that reach the public
 * types, compiled against a header variant, so that the ABI rule can be checked on known
 * changes in a second instead of a library build. */
#include <cab/cab.h>
#include <string.h>

int32_t cab_version(void) { return CAB_VERSION_NUMBER; }

const char *cab_status_string(cab_status status) { return status == CAB_OK ? "CAB_OK" : "?"; }

cab_status cab_ctx_default_params(cab_ctx_params *params) {
    memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    return CAB_OK;
}

cab_status cab_kv_stats_get(const cab_ctx *ctx, cab_seq seq, cab_kv_stats *stats) {
    (void)ctx;
    stats->seq_length = seq;
    return CAB_OK;
}

cab_status cab_chat_format(const cab_model *model, const cab_chat_message *messages,
                           size_t n_messages, int add_assistant, char *buf, size_t cap,
                           size_t *n_out) {
    (void)model;
    (void)add_assistant;
    (void)buf;
    (void)cap;
    *n_out = n_messages > 0 ? strlen(messages[0].content) : 0;
    return CAB_OK;
}

#ifndef WITHOUT_SAMPLER_FREE
void cab_sampler_free(cab_sampler *sampler) { (void)sampler; }
#endif

#ifdef WITH_NEW_FUNCTION
CAB_API cab_status cab_selftest_added(cab_ctx *ctx);
cab_status cab_selftest_added(cab_ctx *ctx) { return ctx == NULL ? CAB_OK : CAB_ERR_STATE; }
#endif
