#include "backend/decode_graph.h"

#include <algorithm>
#include <string>

namespace cab::cuda {

uint64_t op_signature(std::initializer_list<uint64_t> parts) {
    // A word at a time (a byte-wise FNV-1a took about 0.1 us an op, every op of every replayed
    // step); each word is mixed in with a multiply and a fold of the high half into the low.
    uint64_t h = 1469598103934665603ull;
    for (uint64_t p : parts) {
        h = (h ^ p) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    return h;
}

DecodeGraphs::DecodeGraphs(bool enabled, cudaStream_t stream)
    : enabled_(enabled), stream_(stream) {}

DecodeGraphs::~DecodeGraphs() {
    abort();
    // Graphs may still run; their arenas must outlive them.
    cudaStreamSynchronize(stream_);
}

int32_t DecodeGraphs::bucket_for(int32_t max_length) {
    int32_t b = kMinBucket;
    while (b < max_length && b <= INT32_MAX / 2) b *= 2;
    return std::max(b, max_length);
}

void DecodeGraphs::begin(int32_t n_seqs, int32_t max_length, uint32_t variant) {
    abort();
    if (!(n_seqs >= 1 && max_length >= 1))
        fail(CAB_ERR_INVALID_ARGUMENT, "step_begin: n_seqs " + std::to_string(n_seqs) +
                                           " and max_length " + std::to_string(max_length) +
                                           " must be positive");
    if (!enabled_) {
        open_ = true;
        return;
    }
    bucket_ = bucket_for(max_length);
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
        if (it->n_seqs != n_seqs || it->bucket != bucket_ || it->variant != variant) continue;
        cache_.splice(cache_.begin(), cache_, it);
        replay_ = cache_.begin();
        // The previous launch of this graph must have read its inputs before they are rewritten.
        replay_->arena->wait_sent();
        cursor_ = 0;
        mode_ = Mode::Replay;
        open_ = true;
        return;
    }
    start_capture(n_seqs, variant);
}

void DecodeGraphs::start_capture(int32_t n_seqs, uint32_t variant) {
    auto g = std::make_unique<Graph>();
    g->n_seqs = n_seqs;
    g->variant = variant;
    g->bucket = bucket_;
    g->arena = std::make_unique<StepArena>(arena_hint_);
    // Relaxed: ops may allocate (a grown workspace, an arena chunk) while the step is captured.
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed),
          "cudaStreamBeginCapture of a decode step");
    capture_ = std::move(g);
    mode_ = Mode::Capture;
    open_ = true;
}

DecodeGraphs::Staging DecodeGraphs::op(uint64_t signature, size_t bytes, const char *name) {
    if (mode_ == Mode::Capture) {
        const StepArena::Region r = capture_->arena->alloc(bytes);
        capture_->ops.push_back({signature, r, name});
        return {capture_->arena->host(r), capture_->arena->device(r)};
    }
    Graph &g = *replay_;
    if (cursor_ >= g.ops.size())
        stale(std::string("op ") + std::to_string(cursor_) + " (" + name + ") is past the " +
              std::to_string(g.ops.size()) + " ops of the captured step");
    const Op &o = g.ops[cursor_];
    if ((o.signature != signature || o.region.bytes != bytes) && cursor_ == 0) {
        // Nothing of the step was skipped yet: capture it afresh instead.
        const int32_t n_seqs = g.n_seqs;
        const uint32_t variant = g.variant;
        drop_replayed();
        start_capture(n_seqs, variant);
        return op(signature, bytes, name);
    }
    if (o.signature != signature || o.region.bytes != bytes)
        stale(std::string("op ") + std::to_string(cursor_) + " (" + name +
              ") differs from the captured one (" + o.name + ") in its tensors or sizes");
    ++cursor_;
    return {g.arena->host(o.region), g.arena->device(o.region)};
}

void DecodeGraphs::drop_replayed() {
    cudaStreamSynchronize(stream_);  // a launch of the graph may still read its arena
    cache_.erase(replay_);
    mode_ = Mode::Eager;
}

void DecodeGraphs::stale(const std::string &message) {
    drop_replayed();
    open_ = false;
    fail(CAB_ERR_INTERNAL, "CUDA graph replay of a decode step of " + std::to_string(bucket_) +
                               " slots: " + message +
                               "; the graph is dropped (the ops between step_begin and " +
                               "step_end must be the same every step)");
}

void DecodeGraphs::end(const std::function<void()> &before_launch) {
    if (!open_)
        fail(CAB_ERR_INTERNAL,
             "step_end without an open step (no step_begin, or a download, upload, KV read or "
             "compaction came between step_begin and step_end and ended it)");
    open_ = false;
    if (mode_ == Mode::Eager) return;
    if (mode_ == Mode::Replay) {
        if (cursor_ != replay_->ops.size())
            stale("the step issued " + std::to_string(cursor_) + " ops, the capture " +
                  std::to_string(replay_->ops.size()));
        mode_ = Mode::Eager;
        launch(*replay_, before_launch);
        return;
    }
    mode_ = Mode::Eager;
    std::unique_ptr<Graph> g = std::move(capture_);
    cudaGraph_t raw = nullptr;
    const cudaError_t err = cudaStreamEndCapture(stream_, &raw);
    GraphHandle graph(raw);
    if (err != cudaSuccess) fail_cuda(err, "CUDA graph capture of a decode step");
    cudaGraphExec_t exec = nullptr;
    check(cudaGraphInstantiate(&exec, graph.get(), 0), "cudaGraphInstantiate of a decode step");
    g->exec = GraphExecHandle(exec);
    arena_hint_ = std::max(arena_hint_, g->arena->used());
    if (cache_.size() >= kCapacity) {
        // The dropped graph may still run: its arena must outlive it.
        check(cudaStreamSynchronize(stream_), "CUDA graph cache: waiting to drop a graph");
        cache_.pop_back();
    }
    cache_.push_front(std::move(*g));
    launch(cache_.front(), before_launch);
}

void DecodeGraphs::launch(Graph &g, const std::function<void()> &before_launch) {
    before_launch();
    g.arena->send(stream_);
    check(cudaGraphLaunch(g.exec.get(), stream_), "cudaGraphLaunch of a decode step");
}

void DecodeGraphs::abort() noexcept {
    if (mode_ == Mode::Capture) {
        cudaGraph_t raw = nullptr;
        cudaStreamEndCapture(stream_, &raw);
        if (raw) cudaGraphDestroy(raw);
        cudaGetLastError();
        capture_.reset();
    }
    open_ = false;
    mode_ = Mode::Eager;
}

}  // namespace cab::cuda
