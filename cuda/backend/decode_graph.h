// CUDA graphs for decode steps (Executor::step_begin / step_end). The first step of a shape,
// keyed by (sequences, length bucket = the next power of two >= the longest stream, at least
// kMinBucket, variant: whether it appends into 8-bit KV blocks), is captured while it is issued;
// later steps of that shape replay the graph: their ops only write their host inputs into the
// graph's StepArena, at the offsets the capture gave them, and launch nothing; step_end copies the
// arena and launches the graph. Each op of a replayed step is checked against the captured one (a
// signature of its kind, tensors and sizes): a step whose first op differs is captured afresh, one
// that differs later (its first ops were skipped) is an error, never a silent wrong replay.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "backend/device_memory.h"
#include "backend/staging.h"

namespace cab::cuda {

// A hash of an op's kind, device pointers and sizes: what identifies it within a step.
uint64_t op_signature(std::initializer_list<uint64_t> parts);

inline uint64_t sig_ptr(const void *p) {
    return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p));
}

class DecodeGraphs {
public:
    enum class Mode { Eager, Capture, Replay };
    // Where an op writes its host inputs and where its kernels read them.
    struct Staging {
        void *host = nullptr;
        void *device = nullptr;
    };

    static constexpr int32_t kMinBucket = 256;
    static constexpr size_t kCapacity = 16;  // graphs kept, least recently used dropped

    // enabled false: steps run their ops as they come (CAB_CUDA_GRAPHS=0).
    DecodeGraphs(bool enabled, cudaStream_t stream);
    ~DecodeGraphs();
    DecodeGraphs(const DecodeGraphs &) = delete;
    DecodeGraphs &operator=(const DecodeGraphs &) = delete;

    static int32_t bucket_for(int32_t max_length);

    // Opens a step; a step still open (abandoned by its caller) is aborted first. `variant`
    // tells apart steps of one shape whose kernels differ (part of the graph's key).
    void begin(int32_t n_seqs, int32_t max_length, uint32_t variant);
    // Ends the open step: instantiates a capture, then calls before_launch (outside the capture:
    // what it queues runs before the graph), copies the arena and launches the graph. Throws
    // Error(INTERNAL) when no step is open.
    void end(const std::function<void()> &before_launch);
    // Drops the open step, if any: a capture is ended and discarded (none of its ops ran), a
    // replay launches nothing. Never throws.
    void abort() noexcept;

    bool in_step() const { return open_; }
    Mode mode() const { return mode_; }
    // The open step's length bucket (0 when no graph is being captured or replayed).
    int32_t bucket() const { return mode_ == Mode::Eager ? 0 : bucket_; }
    // Whether some graph may hold device addresses (decides when buffers can be freed).
    bool holds_graphs() const { return !cache_.empty() || mode_ == Mode::Capture; }

    // The next op of a captured or replayed step: records it (capture) or checks it against the
    // capture (replay; a mismatch at the first op recaptures, later ones throw INTERNAL), and
    // gives its staging region of `bytes`. `name` names it in errors.
    Staging op(uint64_t signature, size_t bytes, const char *name);

private:
    struct Op {
        uint64_t signature;
        StepArena::Region region;
        const char *name;
    };
    struct Graph {
        int32_t n_seqs = 0;
        int32_t bucket = 0;
        uint32_t variant = 0;
        GraphExecHandle exec;
        std::unique_ptr<StepArena> arena;
        std::vector<Op> ops;
    };

    // Opens a capture of the step (n_seqs, bucket_).
    void start_capture(int32_t n_seqs, uint32_t variant);
    // Drops the graph being replayed, which no longer matches its step.
    void drop_replayed();
    // drop_replayed(), then fails with `message`: ops of the step were already skipped.
    [[noreturn]] void stale(const std::string &message);
    void launch(Graph &g, const std::function<void()> &before_launch);

    bool enabled_;
    cudaStream_t stream_;
    bool open_ = false;
    Mode mode_ = Mode::Eager;
    int32_t bucket_ = 0;
    size_t cursor_ = 0;                  // next op of a replay
    std::list<Graph> cache_;             // most recently used first
    std::list<Graph>::iterator replay_;  // valid in Replay mode
    std::unique_ptr<Graph> capture_;     // valid in Capture mode
    size_t arena_hint_ = 0;              // largest arena a capture used
};

}  // namespace cab::cuda
