// What the KV cache gives a backend that defers decode scores (Backend::alloc_pending_scores,
// Executor::settle_scores): every stream a fixed id of its own and an epoch that a reset bumps,
// the records sized for the model's shape, and a settle of the source's streams before a
// sequence copy moves their scores. A spy backend and executor (on CPU memory) record the calls.
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "util/error.h"

using namespace cab;

namespace {

// CPU memory, plus pending records of 8 floats per stream; records the shapes it was asked for.
class SpyBackend final : public Backend {
public:
    SpyBackend() : cpu_(make_cpu_backend(1)) {}
    const char *name() const override { return "spy"; }
    DType act_dtype() const override { return DType::F32; }
    DType kv_dtype() const override { return DType::F32; }
    Tensor alloc(DType dtype, int64_t rows, int64_t cols) override {
        return cpu_->alloc(dtype, rows, cols);
    }
    Tensor alloc_pending_scores(int64_t n_streams, int32_t n_head, int32_t n_head_kv,
                                int32_t head_dim) override {
        asked = {n_streams, n_head, n_head_kv, head_dim};
        return cpu_->alloc(DType::F32, n_streams, 8);
    }
    std::vector<Tensor> load_weights(const std::vector<WeightSource> &,
                                     const std::function<bool(size_t, size_t)> &) override {
        fail(CAB_ERR_INTERNAL, "spy backend: no weights");
    }
    std::unique_ptr<Executor> make_executor(int32_t) override {
        fail(CAB_ERR_INTERNAL, "spy backend: no executor");
    }

    std::vector<int64_t> asked;

private:
    std::unique_ptr<Backend> cpu_;
};

// Records settle_scores and kv_copy_blocks calls, in order; every other op is an error.
class SpyExecutor final : public Executor {
public:
    struct Call {
        std::string op;
        std::vector<StreamRef> streams;
    };
    std::vector<Call> calls;

    void settle_scores(const KvPoolRef &pool, const StreamRef *streams, int32_t n) override {
        CHECK_FALSE(pool.pending.empty());
        calls.push_back({"settle", std::vector<StreamRef>(streams, streams + n)});
    }
    void kv_copy_blocks(const KvPoolRef &, const int32_t *, const int32_t *, int32_t) override {
        calls.push_back({"copy", {}});
    }

    void upload(const float *, const Tensor &) override { no(); }
    void download(const Tensor &, float *) override { no(); }
    void embedding(const Tensor &, const int32_t *, const Tensor &) override { no(); }
    void matmul(const Tensor &, const Tensor &, const Tensor *, const Tensor &) override { no(); }
    void rmsnorm(const Tensor &, const Tensor &, float, const Tensor &) override { no(); }
    void rope(const Tensor &, int32_t, const int32_t *, const RopeParams &) override { no(); }
    void swiglu(const Tensor &, const Tensor &, const Tensor &) override { no(); }
    void add(const Tensor &, const Tensor &) override { no(); }
    void kv_append(const KvPoolRef &, const StreamRef *, int32_t, int32_t, const Tensor &,
                   const Tensor &) override {
        no();
    }
    void attention_prefill(const KvPoolRef &, const StreamRef *, int32_t, const Tensor &, int32_t,
                           const Tensor &, int32_t) override {
        no();
    }
    void attention_decode(const KvPoolRef &, const StreamRef *, int32_t, const Tensor &, int32_t,
                          const Tensor &) override {
        no();
    }
    void kv_compact(const KvPoolRef &, const StreamRef &, const int32_t *, int32_t) override {
        no();
    }
    void kv_read(const KvPoolRef &, const StreamRef &, bool, float *) override { no(); }
    void kv_read_scores(const KvPoolRef &, const StreamRef &, float *) override { no(); }
    void argmax(const Tensor &, int32_t *) override { no(); }

private:
    static void no() { fail(CAB_ERR_INTERNAL, "spy executor: unexpected op"); }
};

KvConfig config() {
    KvConfig c;
    c.n_layer = 3;
    c.n_head_kv = 2;
    c.n_head = 14;
    c.head_dim = 4;
    c.block_size = 4;
    c.capacity_tokens = 64;
    c.n_seq_max = 3;
    return c;
}

void append(KvCache &kv, int32_t seq, int32_t n) {
    kv.reserve(&seq, &n, 1);
    std::vector<int32_t> pos(static_cast<size_t>(n)), tok(static_cast<size_t>(n), 7);
    for (int32_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = i;
    kv.commit(seq, n, pos.data(), tok.data());
}

}  // namespace

TEST_CASE("KV cache: streams have fixed distinct ids, and a reset bumps their epoch", "[kv]") {
    SpyBackend backend;
    const KvConfig c = config();
    KvCache kv(backend, c);
    CHECK(backend.asked == std::vector<int64_t>{3 * 3 * 2, 14, 2, 4});
    REQUIRE(kv.pool_ref().pending.rows() == 18);
    std::set<int32_t> ids;
    for (int32_t s = 0; s < c.n_seq_max; ++s)
        for (int32_t l = 0; l < c.n_layer; ++l)
            for (int32_t h = 0; h < c.n_head_kv; ++h) {
                const StreamRef r = kv.ref(s, l, h);
                CHECK(r.id >= 0);
                CHECK(r.id < 18);
                CHECK(r.epoch == 0);
                ids.insert(r.id);
            }
    CHECK(ids.size() == 18);
    append(kv, 1, 5);
    std::vector<StreamRef> refs;
    const int32_t seq = 1;
    kv.stream_refs(2, &seq, 1, 3, refs);  // layer 2 with 3 reserved slots
    REQUIRE(refs.size() == 2);
    CHECK(refs[0].id == kv.ref(1, 2, 0).id);
    CHECK(refs[1].id == kv.ref(1, 2, 1).id);
    CHECK(refs[0].length == 8);
    const int32_t id = kv.ref(1, 0, 1).id;
    kv.reset(1);
    CHECK(kv.ref(1, 0, 1).id == id);
    CHECK(kv.ref(1, 0, 1).epoch == 1);
    CHECK(kv.ref(1, 0, 1).length == 0);
    CHECK(kv.ref(0, 0, 1).epoch == 0);  // other sequences keep theirs
    kv.reset(1);
    CHECK(kv.ref(1, 2, 0).epoch == 2);
}

TEST_CASE("KV cache: a sequence copy settles the source's streams before moving blocks", "[kv]") {
    SpyBackend backend;
    KvCache kv(backend, config());
    SpyExecutor ex;
    append(kv, 0, 9);
    kv.copy_seq(ex, 0, 2);
    REQUIRE(ex.calls.size() == 2);
    CHECK(ex.calls[0].op == "settle");
    CHECK(ex.calls[1].op == "copy");
    const std::vector<StreamRef> &settled = ex.calls[0].streams;
    REQUIRE(settled.size() == 6);
    for (const StreamRef &r : settled) {
        CHECK(r.length == 9);  // committed slots only
        bool found = false;
        for (int32_t l = 0; l < 3; ++l)
            for (int32_t h = 0; h < 2; ++h) found = found || kv.ref(0, l, h).id == r.id;
        CHECK(found);
    }
    CHECK(kv.ref(2, 0, 0).epoch == 1);  // the destination was reset: what it left pending is stale
    ex.calls.clear();
    kv.settle(ex, 2);
    REQUIRE(ex.calls.size() == 1);
    CHECK(ex.calls[0].streams.size() == 6);
}

TEST_CASE("KV cache: a backend that defers nothing gets no settle calls", "[kv]") {
    std::unique_ptr<Backend> cpu = make_cpu_backend(1);
    KvCache kv(*cpu, config());
    CHECK(kv.pool_ref().pending.empty());
    SpyExecutor ex;
    append(kv, 0, 3);
    kv.settle(ex, 0);
    kv.copy_seq(ex, 0, 1);
    REQUIRE(ex.calls.size() == 1);
    CHECK(ex.calls[0].op == "copy");
}
