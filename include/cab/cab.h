/*
 * libcab: embeddable LLM inference for long contexts under a fixed KV-cache budget.
 *
 * This is the only public header and the library's stable C ABI.
 *
 * Conventions
 * - Every function that can fail returns a cab_status: CAB_OK (0) or a negative code. The codes
 *   are pinned: a value never changes meaning. cab_last_error() then gives a message, per thread.
 * - Handles (cab_model, cab_ctx, cab_sampler) are opaque. Every *_free / *_destroy accepts NULL.
 * - Options structs start with `uint32_t struct_size`, are filled by the matching
 *   cab_*_default_params() and passed by const pointer. They only ever grow at the end, so a
 *   program built against an older header keeps working with a newer library.
 * - Output structs (cab_model_info, cab_kv_stats) also start with struct_size: the caller sets it
 *   to sizeof(its struct) and the library fills only what fits.
 * - Caller buffers come with a capacity. A call that needs more returns CAB_ERR_BUFFER_TOO_SMALL
 *   and writes the size it needs to the *_out count, so the caller can grow the buffer and retry.
 * - Thread safety: a cab_model is immutable after loading and may be shared by any number of
 *   contexts on any threads. A cab_ctx or cab_sampler is used by one thread at a time.
 */
#ifndef CAB_CAB_H
#define CAB_CAB_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(CAB_BUILDING_LIBRARY)
#define CAB_API __declspec(dllexport)
#else
#define CAB_API __declspec(dllimport)
#endif
#else
#define CAB_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------- */

#define CAB_VERSION_MAJOR 0
#define CAB_VERSION_MINOR 2
#define CAB_VERSION_PATCH 0
/** The version this header describes, as MAJOR * 10000 + MINOR * 100 + PATCH. */
#define CAB_VERSION_NUMBER \
    (CAB_VERSION_MAJOR * 10000 + CAB_VERSION_MINOR * 100 + CAB_VERSION_PATCH)

/** The version of the loaded library, same encoding as CAB_VERSION_NUMBER. */
CAB_API int32_t cab_version(void);
/** The version of the loaded library as a static string, e.g. "0.2.0". */
CAB_API const char *cab_version_string(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------------- */

/** Result of every fallible call. The numeric values are pinned forever. */
typedef enum cab_status {
    CAB_OK = 0,
    CAB_ERR_INVALID_ARGUMENT = -1, /**< a NULL pointer, a value out of range, a bad struct_size */
    CAB_ERR_IO = -2,               /**< a file could not be opened, mapped or read */
    CAB_ERR_FORMAT = -3,           /**< a model file is corrupt, truncated or inconsistent */
    CAB_ERR_UNSUPPORTED = -4,      /**< a valid request this build cannot serve (arch, type...) */
    CAB_ERR_OUT_OF_MEMORY = -5,    /**< host or device allocation failed */
    CAB_ERR_KV_FULL = -6,          /**< the KV block pool cannot hold the request */
    CAB_ERR_DEVICE = -7,           /**< a device (CUDA) call failed; the message has its text */
    CAB_ERR_STATE = -8,            /**< the call is not valid now (e.g. logits before prefill) */
    CAB_ERR_BUFFER_TOO_SMALL = -9, /**< the caller's buffer is too small; *_out has the size */
    CAB_ERR_INTERNAL = -10         /**< a bug in libcab; please report it with the message */
} cab_status;

/**
 * The message of the last failed call on this thread, or "" if none failed yet. A successful
 * call leaves it as it was. Never NULL. Owned by the library; valid until the next failing
 * libcab call on this thread.
 */
CAB_API const char *cab_last_error(void);

/** A static, human name for a status code ("CAB_ERR_KV_FULL"); "unknown status" otherwise. */
CAB_API const char *cab_status_string(cab_status status);

/* ---------------------------------------------------------------------------------------------
 * Basic types
 * ------------------------------------------------------------------------------------------- */

typedef int32_t cab_token; /**< a token id in [0, n_vocab) */
typedef int32_t cab_seq;   /**< a sequence id in [0, cab_ctx_params.n_seq_max) */

/** Where computation and memory live. */
typedef enum cab_device {
    CAB_DEVICE_AUTO = 0, /**< the GPU when this build has CUDA and one is present, else the CPU */
    CAB_DEVICE_CPU = 1,
    CAB_DEVICE_CUDA = 2
} cab_device;

/** Element type of the KV cache. */
typedef enum cab_kv_type {
    CAB_KV_TYPE_AUTO = 0, /**< F32 on the CPU, BF16 on CUDA */
    CAB_KV_TYPE_F32 = 1,
    CAB_KV_TYPE_F16 = 2,
    CAB_KV_TYPE_BF16 = 3
} cab_kv_type;

/** Element type of 8-bit KV blocks (cab_ctx_params.kv_q8_capacity_tokens). Both store one byte
    per element and one F32 scale per row (token and kv head), so they take the same memory. */
typedef enum cab_kv_q8_type {
    /** int8, scale = max|x| / 127: uniform steps, every element within half a step of the row's
        largest / 127 */
    CAB_KV_Q8_INT8 = 0,
    /** fp8 E4M3 (OCP e4m3fn), scale = max|x| / 448: 3 significant bits (each element within 1/16
        of itself) over a range of 2^17 within a row, so small elements next to an outlier keep
        their own precision, where int8 steps them all by the outlier's / 127 */
    CAB_KV_Q8_FP8_E4M3 = 1
} cab_kv_q8_type;

/**
 * Progress of long work such as loading a model. `fraction` is in [0, 1]; `what` a short static
 * description. Return nonzero to go on, 0 to cancel (the call then fails with CAB_ERR_STATE).
 */
typedef int (*cab_progress_fn)(float fraction, const char *what, void *user_data);

/* ---------------------------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------------------------- */

typedef struct cab_model cab_model;

typedef struct cab_model_params {
    uint32_t struct_size;   /**< sizeof(cab_model_params) */
    cab_device device;      /**< where weights go; default CAB_DEVICE_AUTO */
    int32_t gpu_index;      /**< which GPU for CAB_DEVICE_CUDA/AUTO; default 0 */
    cab_progress_fn progress; /**< optional load progress callback; default NULL */
    void *progress_user_data; /**< passed to progress */
} cab_model_params;

/** Fills `params` with defaults. Returns CAB_ERR_INVALID_ARGUMENT if params is NULL. */
CAB_API cab_status cab_model_default_params(cab_model_params *params);

/**
 * Loads a GGUF model file (memory-mapped; the file must stay in place while the model lives).
 * `params` may be NULL for defaults. On success *model_out owns the model: free it with
 * cab_model_free after every context using it is destroyed.
 * Errors: INVALID_ARGUMENT, IO (missing/unreadable file), FORMAT (corrupt or truncated file,
 * the message gives the offset), UNSUPPORTED (architecture or tensor type), OUT_OF_MEMORY.
 */
CAB_API cab_status cab_model_load(const char *path, const cab_model_params *params,
                                  cab_model **model_out);

/** Frees a model. NULL is a no-op. Contexts created from it must be destroyed first. */
CAB_API void cab_model_free(cab_model *model);

/** Which chat template a model uses. */
typedef enum cab_chat_template {
    CAB_CHAT_TEMPLATE_NONE = 0, /**< no recognised template; cab_chat_format fails */
    CAB_CHAT_TEMPLATE_CHATML = 1,
    CAB_CHAT_TEMPLATE_LLAMA3 = 2
} cab_chat_template;

typedef struct cab_model_info {
    uint32_t struct_size; /**< set by the caller to sizeof(cab_model_info) */
    char arch[32];        /**< "llama", "qwen2" (NUL-terminated) */
    char name[128];       /**< general.name, possibly truncated (NUL-terminated) */
    int32_t n_vocab;
    int32_t n_ctx_train; /**< context length the model was trained for */
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ff;
    float rope_theta;
    float rms_eps;
    cab_token bos;  /**< -1 if none */
    cab_token eos;  /**< -1 if none */
    cab_token eot;  /**< end of turn (e.g. <|im_end|>, <|eot_id|>); -1 if none */
    cab_chat_template chat_template;
    uint64_t n_params;   /**< number of weights */
    uint64_t file_bytes; /**< size of the model file */
    cab_device device;   /**< where the weights live */
} cab_model_info;

/** Describes `model`. info->struct_size must be set; fields past it are not written. */
CAB_API cab_status cab_model_info_get(const cab_model *model, cab_model_info *info);

/* ---------------------------------------------------------------------------------------------
 * Tokens and text
 * ------------------------------------------------------------------------------------------- */

/** cab_tokenize flags. */
#define CAB_TOKENIZE_ADD_BOS 1u       /**< prepend BOS when the model uses one */
#define CAB_TOKENIZE_PARSE_SPECIAL 2u /**< "<|im_start|>" in the text becomes its special token */

/**
 * Tokenizes `len` bytes of UTF-8 `text` (need not be NUL-terminated; invalid UTF-8 is tokenized
 * byte-wise as the reference tokenizers do). Writes up to `cap` tokens and sets *n_out to the
 * number of tokens. If cap is too small: CAB_ERR_BUFFER_TOO_SMALL and *n_out = the count needed.
 * `tokens` may be NULL when cap is 0 (to ask for the size).
 */
CAB_API cab_status cab_tokenize(const cab_model *model, const char *text, size_t len,
                                uint32_t flags, cab_token *tokens, size_t cap, size_t *n_out);

/**
 * The bytes one token stands for (special tokens give their text, e.g. "<|im_end|>"). A piece
 * may be part of a UTF-8 character. Not NUL-terminated. BUFFER_TOO_SMALL as for cab_tokenize.
 */
CAB_API cab_status cab_token_to_piece(const cab_model *model, cab_token token, char *buf,
                                      size_t cap, size_t *n_out);

/** cab_detokenize flags. */
#define CAB_DETOKENIZE_SKIP_SPECIAL 1u /**< leave out control tokens (BOS, EOS, <|im_end|>...) */

/**
 * Turns tokens back into UTF-8 text, the inverse of cab_tokenize. Writes up to `cap` bytes,
 * NUL-terminated when room remains; *n_out = the text length without the NUL.
 * Errors: INVALID_ARGUMENT for an unknown token id (the message names its index).
 */
CAB_API cab_status cab_detokenize(const cab_model *model, const cab_token *tokens, size_t n,
                                  uint32_t flags, char *buf, size_t cap, size_t *n_out);

/** True (1) if `token` ends generation: EOS, EOT or another end-of-generation token. */
CAB_API int cab_token_is_eog(const cab_model *model, cab_token token);

/** One chat message. Both strings are NUL-terminated UTF-8, borrowed for the call. */
typedef struct cab_chat_message {
    const char *role; /**< "system", "user" or "assistant" */
    const char *content;
} cab_chat_message;

/**
 * Formats messages with the model's chat template (ChatML or Llama 3, detected from metadata).
 * With add_assistant != 0 the text ends with the assistant turn's header, ready to generate.
 * The result is tokenized with CAB_TOKENIZE_PARSE_SPECIAL. Output as for cab_detokenize.
 * Errors: UNSUPPORTED when the model has no recognised template.
 */
CAB_API cab_status cab_chat_format(const cab_model *model, const cab_chat_message *messages,
                                   size_t n_messages, int add_assistant, char *buf, size_t cap,
                                   size_t *n_out);

/* ---------------------------------------------------------------------------------------------
 * Contexts: sequences, prefill, decode, logits
 * ------------------------------------------------------------------------------------------- */

typedef struct cab_ctx cab_ctx;

typedef struct cab_ctx_params {
    uint32_t struct_size;    /**< sizeof(cab_ctx_params) */
    cab_device device;       /**< default CAB_DEVICE_AUTO (follows the model) */
    int32_t n_seq_max;       /**< sequences this context can hold at once; default 1 */
    int32_t n_threads;       /**< CPU threads (the CPU backend's, and on any device the host
                                  side of cab_evict's random, cab and cab-frc selections);
                                  0 = number of cores (default) */
    int64_t kv_capacity_tokens; /**< pool size in token positions, shared by all sequences:
                                     every (layer, kv head) stream gets blocks for this many
                                     tokens in total (a single sequence of this length fits
                                     without eviction); default 4096 */
    int32_t kv_block_size;   /**< tokens per KV block, 1..1024; default 16. The CUDA backend
                                  takes powers of two only (else UNSUPPORTED) */
    cab_kv_type kv_type;     /**< default CAB_KV_TYPE_AUTO */
    int32_t prefill_chunk;   /**< max tokens per prefill forward pass; default 512 */
    /* Fields below were added after the first release; a struct_size that ends at
       prefill_chunk is still accepted (they then keep their defaults). */
    /** Automatic eviction (see cab_evict): NULL (the default) turns it off. Copied at
        cab_ctx_create, policy name included. While on, a sequence whose streams exceed the
        budget by more than auto_evict_slack tokens (on average per stream) is evicted to the
        budget before its next decode step; a prompt is prefilled in chunks that keep it within
        budget + slack, evicting between them; question-aware policies (snapkv, and h2o / cab /
        cab-frc with CAB_SCORE_WINDOW) also evict to the budget after the prompt's last chunk.
        A ratio budget is a share of the sequence's length (the tokens it has taken). With it, a
        prefill that fails with KV_FULL part-way keeps the chunks it completed. With
        CAB_SELECTION_SHARED_PER_LAYER, a sequence whose heads an explicit per-head cab_evict
        made differ cannot be evicted automatically: its prefills and decodes fail with STATE
        until cab_seq_reset. "quantize+<policy>" fires like its policy (tokens of both types
        count) and quantizes before evicting. Plain "quantize" evicts nothing and its budget
        bounds nothing: a sequence whose streams would hold more than quantize_recent +
        auto_evict_slack full-precision tokens is quantized (auto_evict_slack must be at least
        kv_block_size). Both need kv_q8_capacity_tokens > 0 (else INVALID_ARGUMENT); when the
        int8 blocks run out, the prefill or decode fails with KV_FULL and nothing is quantized. */
    const struct cab_evict_params *auto_evict;
    int32_t auto_evict_slack; /**< tokens past the budget before eviction fires; >= 1, default
                                   64. Also bounds the prefill chunks once a sequence is full. */
    int32_t score_window;     /**< W: the last W queries of each prefill chunk make the window
                                   score (cab_kv_scores); default 32 */
    /** 8-bit KV blocks, on top of kv_capacity_tokens: every (layer, kv head) stream gets 8-bit
        blocks for this many tokens in total; default 0 (none). Each K and V row is stored as
        one byte per element (int8 or fp8, kv_q8_type) with one scale per token and kv head
        (about 4x smaller than F32, 2x than BF16). The
        "quantize" policies of cab_evict and auto_evict move a sequence's oldest tokens there;
        attention reads them in their own type, on the CPU and on CUDA. */
    int64_t kv_q8_capacity_tokens;
    /** Element type of those 8-bit blocks; default CAB_KV_Q8_INT8 (both types on the CPU and on
        CUDA). Added after kv_q8_capacity_tokens: a struct_size that ends before it keeps the
        default. */
    cab_kv_q8_type kv_q8_type;
} cab_ctx_params;

/** Fills `params` with defaults. */
CAB_API cab_status cab_ctx_default_params(cab_ctx_params *params);

/**
 * Creates a context over `model` (borrowed: it must outlive the context). Allocates the KV block
 * pool once. `params` may be NULL for defaults. Free with cab_ctx_destroy.
 * Errors: INVALID_ARGUMENT, OUT_OF_MEMORY, UNSUPPORTED (device or kv_type not in this build, or
 * a kv_block_size or kv_q8_type the backend does not take).
 */
CAB_API cab_status cab_ctx_create(const cab_model *model, const cab_ctx_params *params,
                                  cab_ctx **ctx_out);

/** Destroys a context and frees its KV pool. NULL is a no-op. */
CAB_API void cab_ctx_destroy(cab_ctx *ctx);

/**
 * Appends `n` prompt tokens to sequence `seq` and runs them through the model (in chunks of
 * prefill_chunk), taking the sequence's next positions. Afterwards cab_logits gives the logits
 * of the last token. Positions may go past the model's training context (n_ctx_train is
 * informational) up to 2^31 - 2; eviction does not give positions back. Errors:
 * INVALID_ARGUMENT (unknown token: the message names its index; a position past 2^31 - 2),
 * KV_FULL (the pool cannot hold the tokens; the sequence is left as it was before the call),
 * STATE (automatic eviction cannot run on the sequence: see cab_ctx_params.auto_evict).
 */
CAB_API cab_status cab_prefill(cab_ctx *ctx, cab_seq seq, const cab_token *tokens, size_t n);

/**
 * One decode step for several sequences at once: tokens[i] is appended to seqs[i]. Each sequence
 * may appear at most once. Afterwards cab_logits(ctx, seqs[i]) gives that sequence's next-token
 * logits. Errors: INVALID_ARGUMENT (duplicate or out-of-range sequence, unknown token, a
 * position past 2^31 - 2, as cab_prefill), KV_FULL (nothing is appended to any sequence),
 * STATE (as cab_prefill).
 */
CAB_API cab_status cab_decode(cab_ctx *ctx, const cab_seq *seqs, const cab_token *tokens,
                              size_t n);

/**
 * The next-token logits of `seq` (n_vocab floats) after its last prefill or decode. The pointer
 * is owned by the context and valid until the next cab_prefill, cab_decode, cab_seq_reset,
 * cab_seq_copy or cab_ctx_destroy on ctx. Errors: STATE when the sequence has no logits yet.
 */
CAB_API cab_status cab_logits(cab_ctx *ctx, cab_seq seq, const float **logits_out);

/** Number of tokens a sequence has taken so far (its next position). */
CAB_API cab_status cab_seq_length(const cab_ctx *ctx, cab_seq seq, int64_t *length_out);

/** Drops a sequence: its KV blocks go back to the pool, its positions and logits restart. */
CAB_API cab_status cab_seq_reset(cab_ctx *ctx, cab_seq seq);

/**
 * Makes sequence `dst` an independent copy of sequence `src`, e.g. to prefill a prompt once and
 * continue it several ways (with different eviction policies or budgets). dst gets every
 * (layer, kv head) stream of src as it is now: its cached keys and values, their attention
 * scores (cab_kv_scores), positions and token ids; the tokens src has taken (dst's next token
 * takes src's next position, and the repetition penalty of cab_sample sees the same tokens);
 * the eviction count of cab_kv_stats; and its logits: until one of them is prefilled or
 * decoded, cab_logits and cab_sample give for dst what they give for src. Afterwards the two
 * are independent: prefilling, decoding, evicting or resetting one leaves the other as it was.
 * What dst held before is dropped and its blocks go back to the pool. Copying an empty sequence
 * empties dst. Automatic eviction (cab_ctx_params.auto_evict) belongs to the context and applies
 * to dst as to every sequence.
 *
 * The copy takes as many blocks as src uses (cab_kv_stats.blocks_used) while dst still holds
 * its own, so the pool must have that many free: otherwise KV_FULL, and dst is left as it was
 * (cab_seq_reset dst first to make its blocks available). Invalidates pointers from cab_logits
 * for dst. Errors: INVALID_ARGUMENT (src or dst out of range, src == dst), KV_FULL.
 * Added in 0.2 (symbol version CAB_0.2).
 */
CAB_API cab_status cab_seq_copy(cab_ctx *ctx, cab_seq src, cab_seq dst);

/* ---------------------------------------------------------------------------------------------
 * Sampling
 * ------------------------------------------------------------------------------------------- */

typedef struct cab_sampler cab_sampler;

typedef struct cab_sampler_params {
    uint32_t struct_size;   /**< sizeof(cab_sampler_params) */
    float temperature;      /**< 0 = greedy (argmax, the default) */
    int32_t top_k;          /**< keep the k most likely tokens; 0 = off (default) */
    float top_p;            /**< nucleus: smallest set with mass >= top_p; 1 = off (default) */
    float min_p;            /**< drop tokens below min_p * p(best); 0 = off (default) */
    float repeat_penalty;   /**< CTRL-style penalty on recent tokens; 1 = off (default) */
    int32_t repeat_last_n;  /**< how many recent tokens the penalty looks at; default 64 */
    uint64_t seed;          /**< RNG seed; the same seed gives the same samples; default 0 */
} cab_sampler_params;

CAB_API cab_status cab_sampler_default_params(cab_sampler_params *params);

/** Creates a sampler with its own seeded RNG. `params` may be NULL for greedy. */
CAB_API cab_status cab_sampler_create(const cab_sampler_params *params,
                                      cab_sampler **sampler_out);

/** Frees a sampler. NULL is a no-op. */
CAB_API void cab_sampler_free(cab_sampler *sampler);

/**
 * Picks the next token of `seq` from its current logits. The repetition penalty looks at the
 * sequence's own tokens (prompt and generated). `sampler` may be NULL for greedy.
 * Errors: STATE when the sequence has no logits yet.
 */
CAB_API cab_status cab_sample(cab_ctx *ctx, cab_seq seq, cab_sampler *sampler,
                              cab_token *token_out);

/* ---------------------------------------------------------------------------------------------
 * KV cache inspection
 * ------------------------------------------------------------------------------------------- */

/** Pass as `seq` to ask about the whole context. */
#define CAB_SEQ_ALL ((cab_seq)-1)

typedef struct cab_kv_stats {
    uint32_t struct_size;   /**< set by the caller to sizeof(cab_kv_stats) */
    int32_t n_layer;
    int32_t n_head_kv;
    int32_t block_size;     /**< tokens per block */
    int64_t seq_length;     /**< tokens the sequence has taken (0 for CAB_SEQ_ALL) */
    int64_t tokens_cached;  /**< sum over streams of cached tokens */
    int32_t stream_min;     /**< fewest tokens in one (layer, kv head) stream */
    int32_t stream_max;     /**< most tokens in one stream */
    int64_t tokens_evicted; /**< tokens evicted so far, summed over streams */
    int64_t blocks_used;    /**< blocks held (by the sequence, or by all) */
    int64_t blocks_free;    /**< blocks free in the pool */
    int64_t blocks_total;   /**< blocks in the pool */
    uint64_t bytes_used;    /**< KV bytes held, blocks of both types (K and V rows, int8 scales) */
    uint64_t bytes_total;   /**< KV bytes of the whole pool, both types */
    /* Int8 blocks (cab_ctx_params.kv_q8_capacity_tokens); blocks_* above count the others. */
    int64_t q8_blocks_used;
    int64_t q8_blocks_free;
    int64_t q8_blocks_total;
    uint64_t q8_bytes_used; /**< the part of bytes_used in int8 blocks */
} cab_kv_stats;

/** KV-cache figures for one sequence or for CAB_SEQ_ALL. stats->struct_size must be set. */
CAB_API cab_status cab_kv_stats_get(const cab_ctx *ctx, cab_seq seq, cab_kv_stats *stats);

/**
 * Tokens cached per stream of `seq`: lengths[layer * n_head_kv + head]. Needs
 * n_layer * n_head_kv entries (BUFFER_TOO_SMALL with *n_out set otherwise).
 */
CAB_API cab_status cab_kv_lengths(const cab_ctx *ctx, cab_seq seq, int32_t *lengths, size_t cap,
                                  size_t *n_out);

/**
 * The original positions of the tokens cached in one stream (sequence, layer, kv head), in cache
 * order (increasing). Eviction removes entries; positions are never renumbered. *n_out = the
 * stream's length; BUFFER_TOO_SMALL when cap is smaller (`positions` may be NULL when cap is 0).
 * Errors: INVALID_ARGUMENT for a bad seq, layer or head.
 */
CAB_API cab_status cab_kv_positions(const cab_ctx *ctx, cab_seq seq, int32_t layer, int32_t head,
                                    int32_t *positions, size_t cap, size_t *n_out);

/**
 * The attention scores of the tokens cached in one stream, in the order of cab_kv_positions:
 * score = the sum of the softmax probabilities every query (and every query head of the kv
 * head's GQA group) gave the token since it entered the cache; observers = how many queries
 * could see it (queries, not heads); window = the same sum over the last score_window queries of
 * the latest prefill chunk. Any of the three arrays may be NULL. Sizes as for cab_kv_positions.
 */
CAB_API cab_status cab_kv_scores(const cab_ctx *ctx, cab_seq seq, int32_t layer, int32_t head,
                                 float *score, float *observers, float *window, size_t cap,
                                 size_t *n_out);

/* ---------------------------------------------------------------------------------------------
 * Eviction (docs/POLICIES.md). These calls, cab_kv_positions and cab_kv_scores came after the
 * first release (symbol version CAB_0.2).
 * ------------------------------------------------------------------------------------------- */

/** How cab_evict_params gives the budget. */
typedef enum cab_budget_unit {
    CAB_BUDGET_TOKENS = 0, /**< budget_tokens per stream */
    CAB_BUDGET_RATIO = 1   /**< budget_ratio of each stream's current length (for automatic
                                eviction: of the sequence's length) */
} cab_budget_unit;

/** Which unit a policy selects over. */
typedef enum cab_evict_selection {
    CAB_SELECTION_PER_HEAD = 0, /**< every (layer, kv head) stream chooses its own tokens */
    CAB_SELECTION_SHARED_PER_LAYER = 1 /**< one choice per layer from the sum of its heads'
                                            scores, kept by all its heads */
} cab_evict_selection;

/** How the budget is shared among a sequence's streams. */
typedef enum cab_budget_allocation {
    CAB_ALLOCATION_UNIFORM = 0,  /**< every stream the same budget */
    CAB_ALLOCATION_PYRAMID = 1,  /**< more in lower layers (PyramidKV) */
    CAB_ALLOCATION_ADAPTIVE = 2  /**< per layer, to the heads with diffuse attention (AdaKV) */
} cab_budget_allocation;

/** Which score h2o, cab and cab-frc rank tokens by. */
typedef enum cab_score_source {
    CAB_SCORE_CUMULATIVE = 0, /**< attention from every query since the token was cached */
    CAB_SCORE_WINDOW = 1      /**< attention from the last queries of the latest prefill chunk:
                                   question-aware when the prompt ends with the question */
} cab_score_source;

typedef struct cab_evict_params {
    uint32_t struct_size; /**< sizeof(cab_evict_params) */
    /** "full", "random", "window", "h2o", "tova", "snapkv", "cab", "cab-frc" or "chunkkv";
        default "cab". Or "quantize": no eviction, but every stream's tokens older than its last
        quantize_recent move to int8 blocks (cab_ctx_params.kv_q8_capacity_tokens), whole
        blocks of kv_block_size; or "quantize+<policy>" (e.g. "quantize+snapkv"): that, then
        eviction by the policy (auto_evict takes them too). Borrowed for the call (copied by
        cab_ctx_create for auto_evict). */
    const char *policy;
    cab_budget_unit budget_unit; /**< default CAB_BUDGET_TOKENS */
    int32_t budget_tokens;       /**< tokens kept per stream, >= 0; default 256 */
    double budget_ratio;         /**< share kept, in [0, 1], read to 6 decimals; default 0.5 */
    int32_t n_sinks;             /**< first tokens always kept; default 4 (not by full/random) */
    int32_t n_recent;            /**< most recent tokens always kept; default 0 */
    cab_evict_selection selection;     /**< default CAB_SELECTION_PER_HEAD */
    cab_budget_allocation allocation;  /**< default CAB_ALLOCATION_UNIFORM */
    int32_t min_budget;          /**< pyramid / adaptive: per-stream floor, raised to the slots
                                      the policy always keeps (n_sinks, n_recent, snapkv's and
                                      chunkkv's window); default 5 */
    float pyramid_beta;          /**< pyramid: top layer gets average / beta, >= 1; default 20 */
    uint64_t seed;               /**< random policy; default 0 */
    int32_t h2o_normalize;       /**< h2o: nonzero ranks by score / observers; default 0 */
    float h2o_recent_ratio;      /**< h2o: share of the budget for recent tokens; default 0.2 */
    int32_t snapkv_window;       /**< snapkv: last tokens kept as the observation window; 32 */
    int32_t snapkv_kernel;       /**< snapkv: odd max-pool width; default 7 */
    float cab_r_local;           /**< cab, cab-frc: share for recent tokens; default 0.3 */
    float cab_r_bridge;          /**< cab, cab-frc: share for bridges; default 0.2 */
    cab_score_source score_source; /**< h2o, cab, cab-frc; default CAB_SCORE_CUMULATIVE */
    int32_t frc_block;           /**< cab-frc: tokens pooled per graph node; default 16 */
    int32_t frc_max_blocks;      /**< cab-frc: most graph nodes per stream; default 128 */
    int32_t chunkkv_chunk;       /**< chunkkv: tokens per chunk; default 16 */
    int32_t snapkv_shift;        /**< snapkv: the pool window moves this many slots back, so it
                                      reaches further after a hit; 0..snapkv_kernel/2, default 0 */
    float snapkv_inherit;        /**< snapkv: share of the layers, from the first, that rank by
                                      the deeper layers' window score instead of their own
                                      (ceil(share * n_layer) layers, at most n_layer - 1; the
                                      selection then runs on the host); in [0, 1), default 0
                                      (off). Sits in what was tail padding: start from
                                      cab_evict_default_params */
    int32_t quantize_recent;     /**< quantize policies: the most recent tokens per stream that
                                      stay in full precision, >= 0; default 64 */
} cab_evict_params;

/** Fills `params` with defaults. */
CAB_API cab_status cab_evict_default_params(cab_evict_params *params);

/** What one cab_evict call did; all counts sum over the sequence's streams. */
typedef struct cab_evict_report {
    uint32_t struct_size;   /**< set by the caller to sizeof(cab_evict_report) */
    int64_t tokens_before;  /**< cached tokens before */
    int64_t tokens_kept;    /**< cached tokens after */
    int64_t tokens_evicted; /**< tokens_before - tokens_kept */
    int64_t blocks_freed;   /**< KV blocks returned to the pool */
    uint64_t bytes_freed;   /**< KV bytes returned to the pool, both types, net of the int8
                                 blocks that quantizing took */
    int64_t tokens_quantized; /**< tokens moved to int8 blocks (quantize policies) */
} cab_evict_report;

/**
 * Shrinks the KV cache of `seq` to the budget with a policy: every stream (or every layer, with
 * CAB_SELECTION_SHARED_PER_LAYER) keeps the tokens the policy selects, compacted in order, and
 * the freed blocks go back to the pool. The sequence goes on from where it was: its next token
 * takes its next position, and the tokens left see no gap. `params` may be NULL for defaults;
 * `report` may be NULL. An empty sequence is a no-op. Errors: INVALID_ARGUMENT naming the bad
 * field (unknown policy, out-of-range value), STATE (shared selection over heads that an earlier
 * per-head eviction made differ), KV_FULL (a quantize policy whose tokens the int8 blocks cannot
 * all take: nothing was changed).
 */
CAB_API cab_status cab_evict(cab_ctx *ctx, cab_seq seq, const cab_evict_params *params,
                             cab_evict_report *report);

#ifdef __cplusplus
}
#endif

#endif /* CAB_CAB_H */
