// Times libcab's attention kernels (cuda/attention) on the current GPU and prints one JSON array
// on stdout: causal prefill with and without fused scores, split-K paged decode with and without
// scores (over bf16 blocks, and over 8-bit ones, int8 and fp8 E4M3: issue 8), and the
// device-to-device copy bandwidth they are judged against. Inputs are random bf16 in a pool of
// 16-token blocks handed out in shuffled order, as the engine stores them. Medians of repeated
// runs; prefill calls start, as torch's, after a 256 MB memset that empties L2 and hides the
// launch; decode is timed as CUDA graph replays so that launch overhead stays out, and it rotates
// over several input sets when one would fit in L2. Decode's KV types: bf16, int8, fp8, and
// int8+tail (int8 blocks but each stream's last 64 keys in bf16 ones, as `quantize` leaves a
// stream with its default recent window). --len sets decode's KV lengths and prefill's token
// counts (default 1k, 4k, 16k and 32k for prefill, 4k, 16k and 32k for decode).
//   usage: cab_attention_bench [--only prefill|decode] [--kv bf16,int8,fp8,int8+tail]
//                              [--batch 1,16,64] [--len 4096,...] [--shape 0.5b|7b] [--splits N]
//                              [--blocks shuffled|sequential] [--prefill-cta auto|64|128|192]
//                              [--cached N] [--pdl off|on|both] > attention_kernels.json
// --prefill-cta forces the rows of a CTA of the Hopper prefill kernel at head_dim 64
// (PrefillArgs::sm90_cta_rows), which the grid's size picks otherwise. --cached N puts N keys
// before each prefill's chunk (default 0), as the engine's chunks after the first find them.
// --pdl on launches each decode as a programmatic dependent of the kernel before it
// (DecodeArgs::pdl), as the engine's decode steps do: its prologue and first tiles' copies then
// overlap that kernel's end.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "attention/attention.h"

namespace {

namespace attention = cab::cuda::attention;

void check(cudaError_t err, const char *what) {
    if (err != cudaSuccess) {
        std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(err));
        std::exit(1);
    }
}

struct Buffer {
    void *ptr = nullptr;
    size_t bytes = 0;
    explicit Buffer(size_t n) : bytes(n) { check(cudaMalloc(&ptr, n), "cudaMalloc"); }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    ~Buffer() { cudaFree(ptr); }
    template <class T>
    T *as() const {
        return static_cast<T *>(ptr);
    }
};

// Uniform values of standard deviation 1 from a hash of the index, as bf16.
__global__ void fill_random(__nv_bfloat16 *x, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        uint32_t h = static_cast<uint32_t>(i) * 0x9e3779b9u ^ seed ^ static_cast<uint32_t>(i >> 32);
        h ^= h >> 16;
        h *= 0x7feb352du;
        h ^= h >> 15;
        h *= 0x846ca68bu;
        h ^= h >> 16;
        x[i] = __float2bfloat16((h * (1.0f / 4294967296.0f) - 0.5f) * 3.4641f);
    }
}

enum class Kv { Bf16, Int8, Fp8, Int8Tail };
constexpr int kTailKeys = 64;  // Int8Tail: bf16 keys at the end of each stream (whole blocks)

const char *kv_name(Kv kv) {
    return kv == Kv::Bf16 ? "bf16" : kv == Kv::Int8 ? "int8" : kv == Kv::Fp8 ? "fp8" : "int8+tail";
}

// E4M3's NaN codes (0x7f, 0xff) become its largest finite ones.
__global__ void clear_fp8_nans(uint8_t *codes, size_t n) {
    for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        if ((codes[i] & 0x7f) == 0x7f) codes[i] -= 1;
}

void randomize(const Buffer &b, uint32_t seed) {
    fill_random<<<1024, 256>>>(b.as<__nv_bfloat16>(), b.bytes / 2, seed);
    check(cudaGetLastError(), "fill_random");
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Whether streams' blocks are handed out in order (--blocks sequential: each stream's K/V
// contiguous in the pool, as a fresh cache fills) instead of shuffled.
bool g_sequential_blocks = false;

// Streams of `lengths` tokens over one pool, blocks shuffled (unless g_sequential_blocks); a zeroed
// score pool paged like K/V (kv/paged.h: 4 kinds of 16 floats per block), and, for decode with
// scores (record_bytes > 0), zeroed pending records, one per stream (as the engine keeps them). kv
// int8 or fp8: every block is an 8-bit one (random bytes, fp8 NaN codes cleared; scales near 0.01),
// the bf16 pool a single unused block; int8+tail: each stream's last kTailKeys / 16 blocks are bf16
// ones of the pool, whose 8-bit ids follow them (first_q8).
struct Streams {
    Buffer pool, tables, views, scores, records, q8, q8_scales;
    attention::DevicePool pool_ref;
    Streams(const std::vector<int> &lengths, int d, bool with_scores, std::mt19937 &rng,
            size_t record_bytes = 0, Kv kv = Kv::Bf16)
        : pool(kv == Kv::Bf16       ? bytes_pool(lengths, d)
               : kv == Kv::Int8Tail ? tail_blocks(lengths) * 2 * 16 * d * 2
                                    : 2 * 16 * d * 2),
          tables(4 * blocks(lengths)),
          views(lengths.size() * sizeof(attention::DeviceStream)),
          scores(with_scores ? (blocks(lengths) + tail_blocks(lengths)) * cab::cuda::kScoreKinds *
                                   16 * sizeof(float)
                             : 4),
          records(std::max<size_t>(lengths.size() * record_bytes, 16)),
          q8(kv != Kv::Bf16 ? bytes_pool(lengths, d) / 2 : 16),
          q8_scales(kv != Kv::Bf16 ? blocks(lengths) * 2 * 16 * sizeof(float) : 16) {
        check(cudaMemset(records.ptr, 0, records.bytes), "records");
        randomize(pool, static_cast<uint32_t>(rng()));
        randomize(q8, static_cast<uint32_t>(rng()));
        if (kv == Kv::Fp8) {
            clear_fp8_nans<<<1024, 256>>>(q8.as<uint8_t>(), q8.bytes);
            check(cudaGetLastError(), "clear_fp8_nans");
        }
        check(cudaMemset(q8_scales.ptr, 0x3C, q8_scales.bytes), "scales");
        const auto n_tail = static_cast<int32_t>(kv == Kv::Int8Tail ? tail_blocks(lengths) : 0);
        std::vector<int32_t> ids(blocks(lengths)), tail(static_cast<size_t>(n_tail));
        std::iota(ids.begin(), ids.end(), n_tail);
        std::iota(tail.begin(), tail.end(), 0);
        if (!g_sequential_blocks) {
            std::shuffle(ids.begin(), ids.end(), rng);
            std::shuffle(tail.begin(), tail.end(), rng);
        }
        if (n_tail > 0) {  // the last blocks of each stream become bf16 ones
            size_t at = 0, next = 0;
            for (int l : lengths) {
                const size_t nb = (l + 15) / 16, nt = std::min<size_t>(nb, kTailKeys / 16);
                for (size_t b = nb - nt; b < nb; ++b) ids[at + b] = tail[next++];
                at += nb;
            }
        }
        check(cudaMemcpy(tables.ptr, ids.data(), 4 * ids.size(), cudaMemcpyHostToDevice), "tables");
        check(cudaMemset(scores.ptr, 0, scores.bytes), "scores");
        std::vector<attention::DeviceStream> v(lengths.size());
        size_t block = 0;
        for (size_t i = 0; i < lengths.size(); ++i) {
            v[i].blocks = tables.as<int32_t>() + block;
            v[i].length = lengths[i];
            v[i].id = static_cast<int32_t>(i);
            const int nb = (lengths[i] + 15) / 16;
            if (kv == Kv::Int8Tail) {
                v[i].q8_length = std::max(0, nb - kTailKeys / 16) * 16;
            } else if (kv != Kv::Bf16) {
                v[i].q8_length = lengths[i];
            }
            block += nb;
        }
        check(cudaMemcpy(views.ptr, v.data(), views.bytes, cudaMemcpyHostToDevice), "views");
        pool_ref = {pool.ptr, 16, d, with_scores ? scores.as<float>() : nullptr};
        if (kv != Kv::Bf16) {
            pool_ref.q8_fp8 = kv == Kv::Fp8;
            pool_ref.q8 = q8.as<int8_t>();
            pool_ref.q8_scales = q8_scales.as<float>();
            pool_ref.first_q8 = n_tail;
        }
    }
    const attention::DeviceStream *get() const { return views.as<attention::DeviceStream>(); }
    static size_t blocks(const std::vector<int> &lengths) {
        size_t n = 0;
        for (int l : lengths) n += (l + 15) / 16;
        return n;
    }
    static size_t bytes_pool(const std::vector<int> &lengths, int d) {
        return blocks(lengths) * 2 * 16 * d * 2;
    }
    static size_t tail_blocks(const std::vector<int> &lengths) {
        size_t n = 0;
        for (int l : lengths) n += std::min((l + 15) / 16, kTailKeys / 16);
        return n;
    }
};

struct Shape {
    const char *name;
    int n_head, n_head_kv, d;
};

std::string record_head(const char *op, const Shape &s, bool scores, const char *impl = "cab") {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "{\"op\": \"%s\", \"impl\": \"%s\", \"shape\": \"%s\", \"n_head\": %d, "
                  "\"n_head_kv\": %d, \"head_dim\": %d, \"scores\": %s",
                  op, impl, s.name, s.n_head, s.n_head_kv, s.d, scores ? "true" : "false");
    return buf;
}

using Kernel = attention::Kernel;

// impl "cab" is what the engine runs (the wgmma kernel on sm_90), "cab_sm80" the mma.sync one.
std::string prefill_record(const Shape &s, int n, int cached, bool scores, Kernel kernel,
                           int cta_rows, std::mt19937 &rng) {
    const char *impl = kernel == Kernel::Sm80 ? "cab_sm80" : "cab";
    std::vector<int> lengths(s.n_head_kv, cached + n);
    Streams st(lengths, s.d, scores, rng);
    Buffer q(static_cast<size_t>(n) * s.n_head * s.d * 2), out(q.bytes);
    randomize(q, static_cast<uint32_t>(rng()));
    attention::PrefillArgs a;
    a.pool = st.pool_ref;
    a.streams = st.get();
    a.n_head_kv = s.n_head_kv;
    a.n_head = s.n_head;
    a.n = n;
    a.max_length = cached + n;
    a.q = q.ptr;
    a.q_stride = s.n_head * s.d;
    a.out = out.ptr;
    a.out_stride = a.q_stride;
    a.scores = scores;
    a.score_window = 32;
    a.kernel = kernel;
    if (s.d == 64 && kernel != Kernel::Sm80) a.sm90_cta_rows = cta_rows;
    cudaEvent_t t0, t1;
    check(cudaEventCreate(&t0), "event");
    check(cudaEventCreate(&t1), "event");
    for (int i = 0; i < 3; ++i) attention::prefill(a, nullptr);
    const double flops = 4.0 * s.n_head * s.d *
                         (static_cast<double>(n) * cached + static_cast<double>(n) * (n + 1) / 2);
    const int reps = std::max(5, std::min(50, static_cast<int>(2e13 / flops)));
    // Before each call 256 MB are zeroed, as triton's do_bench does before each of the torch
    // kernels' (attention_torch.py): the call starts with its inputs out of L2, and the GPU is busy
    // while the host launches it, so that the host's launch latency stays out of both times.
    Buffer cache(size_t{256} << 20);
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
        check(cudaMemsetAsync(cache.ptr, 0, cache.bytes, nullptr), "flush");
        check(cudaEventRecord(t0), "record");
        attention::prefill(a, nullptr);
        check(cudaEventRecord(t1), "record");
        check(cudaEventSynchronize(t1), "sync");
        float t = 0;
        check(cudaEventElapsedTime(&t, t0, t1), "elapsed");
        ms.push_back(t);
    }
    check(cudaGetLastError(), "prefill");
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    const double med = median(ms);
    const size_t mem = st.pool.bytes + st.tables.bytes + st.scores.bytes + q.bytes + out.bytes;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  ", \"n\": %d, \"cached\": %d, \"ms\": %.4f, \"tflops\": %.1f, "
                  "\"peak_bytes\": %zu, \"reps\": %d}",
                  n, cached, med, flops / med * 1e-9, mem, reps);
    std::fprintf(stderr, "prefill %s %s n %d cached %d scores %d: %.3f ms\n", impl, s.name, n,
                 cached, scores, med);
    return record_head("prefill", s, scores, impl) + buf;
}

// kv int8 or fp8: every key and value in 8-bit blocks; kv_bytes then counts their bytes and
// scales. splits > 0 replaces the heuristic's split count. impl "cab" is what the engine runs
// (over bf16 blocks on sm_90 the kernel with tensor copies), "cab_sm80" the cp.async one.
std::string decode_record(const Shape &s, int batch, int length, bool scores, std::mt19937 &rng,
                          Kv kv, int splits, Kernel kernel, bool pdl) {
    const char *impl = kernel == Kernel::Sm80 ? "cab_sm80" : "cab";
    const size_t row_q8 = s.d + sizeof(float), row_bf16 = s.d * 2;
    const size_t tail = kv == Kv::Int8Tail ? std::min(length, kTailKeys) : 0;
    const size_t per_stream =
        kv == Kv::Bf16 ? length * row_bf16 : (length - tail) * row_q8 + tail * row_bf16;
    const size_t kv_bytes = static_cast<size_t>(batch) * s.n_head_kv * 2 * per_stream;
    // With pdl each call starts while the one before it ends, and reads its records before
    // waiting for it: that call must be over another input set (as in the engine, where the
    // layer's other kernels come between two steps over the same records).
    const int rotations =
        std::max(pdl ? 2 : 1, static_cast<int>(std::min<size_t>(8, 1 + (256u << 20) / kv_bytes)));
    std::vector<int> lengths(static_cast<size_t>(batch) * s.n_head_kv, length);
    // With scores, each step applies the previous one's pending scores and leaves its own (the
    // engine's steady state); settle_us below times applying one step's on their own.
    const size_t record_bytes =
        scores ? attention::pending_record_bytes(s.n_head / s.n_head_kv, s.d) : 0;
    std::vector<std::unique_ptr<Streams>> sets;
    for (int r = 0; r < rotations; ++r)
        sets.push_back(std::make_unique<Streams>(lengths, s.d, scores, rng, record_bytes, kv));
    Buffer q(static_cast<size_t>(batch) * s.n_head * s.d * 2), out(q.bytes);
    randomize(q, static_cast<uint32_t>(rng()));
    attention::DecodeArgs a;
    a.batch = batch;
    a.n_head_kv = s.n_head_kv;
    a.n_head = s.n_head;
    a.max_length = length;
    a.q = q.ptr;
    a.q_stride = s.n_head * s.d;
    a.out = out.ptr;
    a.out_stride = a.q_stride;
    a.scores = scores;
    a.pool = sets[0]->pool_ref;
    a.splits = splits;
    a.kernel = kernel;
    a.pdl = pdl;
    const attention::DecodePlan plan = attention::plan_decode(a);
    Buffer ws(std::max<size_t>(plan.workspace_bytes, 256));
    a.workspace = ws.ptr;
    a.workspace_bytes = ws.bytes;
    cudaStream_t stream;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
    auto run_all = [&] {
        for (const auto &set : sets) {
            a.pool = set->pool_ref;
            a.streams = set->get();
            if (record_bytes > 0) {
                a.pending = set->records.ptr;
                a.pending_record_bytes = record_bytes;
            }
            attention::decode(a, stream);
        }
    };
    run_all();  // warm-up outside capture
    constexpr int kPerGraph = 10;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
    for (int i = 0; i < kPerGraph; ++i) run_all();
    check(cudaStreamEndCapture(stream, &graph), "capture end");
    check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    check(cudaGraphLaunch(exec, stream), "graph warm-up");
    cudaEvent_t t0, t1;
    check(cudaEventCreate(&t0), "event");
    check(cudaEventCreate(&t1), "event");
    std::vector<double> us;
    for (int i = 0; i < 15; ++i) {
        check(cudaEventRecord(t0, stream), "record");
        check(cudaGraphLaunch(exec, stream), "graph");
        check(cudaEventRecord(t1, stream), "record");
        check(cudaEventSynchronize(t1), "sync");
        float t = 0;
        check(cudaEventElapsedTime(&t, t0, t1), "elapsed");
        us.push_back(1000.0 * t / (kPerGraph * rotations));
    }
    const double med = median(us);
    double settle_us = 0.0;
    if (record_bytes > 0) {  // a decode leaves scores pending, then settle applies them
        std::vector<double> settle;
        for (int i = 0; i < 15; ++i) {
            a.pool = sets[0]->pool_ref;
            a.streams = sets[0]->get();
            a.pending = sets[0]->records.ptr;
            attention::decode(a, stream);
            attention::SettleArgs sa;
            sa.pool = sets[0]->pool_ref;
            sa.streams = sets[0]->get();
            sa.count = static_cast<int>(lengths.size());
            sa.max_length = length;
            sa.group = s.n_head / s.n_head_kv;
            sa.pending = sets[0]->records.ptr;
            check(cudaEventRecord(t0, stream), "record");
            attention::settle(sa, stream);
            check(cudaEventRecord(t1, stream), "record");
            check(cudaEventSynchronize(t1), "sync");
            float t = 0;
            check(cudaEventElapsedTime(&t, t0, t1), "elapsed");
            settle.push_back(1000.0 * t);
        }
        settle_us = median(settle);
    }
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
    char buf[384];
    std::snprintf(buf, sizeof buf,
                  ", \"kv_type\": \"%s\", \"batch\": %d, \"kv_len\": %d, \"us\": %.2f, "
                  "\"kv_bytes\": %zu, "
                  "\"gbps\": %.0f, \"splits\": %d, \"workspace_bytes\": %zu, \"rotations\": %d, "
                  "\"settle_us\": %.2f, \"pdl\": %s}",
                  kv_name(kv), batch, length, med, kv_bytes, kv_bytes / med * 1e-3, plan.splits,
                  plan.workspace_bytes, rotations, settle_us, pdl ? "true" : "false");
    std::fprintf(stderr,
                 "decode %s %s %s B %d L %d scores %d pdl %d: %.2f us, %.0f GB/s (%d splits)\n",
                 impl, s.name, kv_name(kv), batch, length, scores, pdl, med, kv_bytes / med * 1e-3,
                 plan.splits);
    return record_head("decode", s, scores, impl) + buf;
}

// Device-to-device copy of 1 GiB, counting bytes read and written.
std::string copy_record() {
    const size_t bytes = size_t{1} << 30;
    Buffer a(bytes), b(bytes);
    check(cudaMemset(a.ptr, 1, bytes), "memset");
    // The GPU leaves its idle clocks only after some work: copies for half a second before
    // anything is timed (the first prefill case, 28 heads at 1k, once read 25% slow on a fresh
    // machine without them).
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500)) {
        check(cudaMemcpyAsync(b.ptr, a.ptr, bytes, cudaMemcpyDeviceToDevice), "copy");
        check(cudaDeviceSynchronize(), "warm-up");
    }
    cudaEvent_t t0, t1;
    check(cudaEventCreate(&t0), "event");
    check(cudaEventCreate(&t1), "event");
    std::vector<double> ms;
    for (int i = 0; i < 12; ++i) {
        check(cudaEventRecord(t0), "record");
        check(cudaMemcpyAsync(b.ptr, a.ptr, bytes, cudaMemcpyDeviceToDevice), "copy");
        check(cudaEventRecord(t1), "record");
        check(cudaEventSynchronize(t1), "sync");
        float t = 0;
        check(cudaEventElapsedTime(&t, t0, t1), "elapsed");
        if (i >= 2) ms.push_back(t);
    }
    const double med = median(ms);
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "{\"op\": \"copy\", \"impl\": \"cudaMemcpy\", \"bytes\": %zu, \"ms\": %.4f, "
                  "\"gbps\": %.0f}",
                  bytes, med, 2.0 * bytes / med * 1e-6);
    return buf;
}

}  // namespace

// "1,16,64" -> {1, 16, 64}.
std::vector<int> int_list(const std::string &s) {
    std::vector<int> v;
    for (size_t at = 0; at <= s.size();) {
        const size_t comma = std::min(s.find(',', at), s.size());
        v.push_back(std::atoi(s.substr(at, comma - at).c_str()));
        at = comma + 1;
    }
    return v;
}

int main(int argc, char **argv) {
    std::string only, kv_types = "bf16,int8,fp8", shape_name;
    std::vector<int> batches = {1, 16, 64}, lens = {4096, 16384, 32768};
    std::vector<int> prefill_lens = {1024, 4096, 16384, 32768};
    int splits = 0;
    int prefill_cta_rows = 0, prefill_cached = 0;
    std::vector<bool> pdl_modes = {false};
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string opt = argv[i], value = argv[i + 1];
        if (opt == "--only") {
            only = value;
        } else if (opt == "--kv") {
            kv_types = value;
        } else if (opt == "--batch") {
            batches = int_list(value);
        } else if (opt == "--len") {
            lens = prefill_lens = int_list(value);
        } else if (opt == "--shape") {
            shape_name = value;
        } else if (opt == "--splits") {
            splits = std::atoi(value.c_str());
        } else if (opt == "--blocks" && (value == "shuffled" || value == "sequential")) {
            g_sequential_blocks = value == "sequential";
        } else if (opt == "--prefill-cta" &&
                   (value == "auto" || value == "64" || value == "128" || value == "192")) {
            prefill_cta_rows = value == "auto" ? 0 : std::atoi(value.c_str());
        } else if (opt == "--cached" && std::atoi(value.c_str()) >= 0) {
            prefill_cached = std::atoi(value.c_str());
        } else if (opt == "--pdl" && (value == "off" || value == "on" || value == "both")) {
            pdl_modes =
                value == "both" ? std::vector<bool>{false, true} : std::vector<bool>{value == "on"};
        } else {
            argc = -1;
        }
    }
    if (argc < 0 || argc % 2 == 0) {
        std::fprintf(stderr,
                     "usage: cab_attention_bench [--only prefill|decode] [--kv bf16,int8,fp8,"
                     "int8+tail] [--batch 1,16,64] [--len 4096,...] [--shape 0.5b|7b] "
                     "[--splits N] [--blocks shuffled|sequential] "
                     "[--prefill-cta auto|64|128|192] [--cached N] [--pdl off|on|both]\n");
        return 2;
    }
    std::vector<Kv> kvs;
    for (Kv kv : {Kv::Bf16, Kv::Int8, Kv::Fp8, Kv::Int8Tail})
        if (("," + kv_types + ",").find("," + std::string(kv_name(kv)) + ",") != std::string::npos)
            kvs.push_back(kv);
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "device");
    std::mt19937 rng(12345);
    std::vector<std::string> records;
    records.push_back(copy_record());
    std::vector<Shape> shapes;
    for (const Shape &s : {Shape{"qwen2.5-7b", 28, 4, 128}, Shape{"qwen2.5-0.5b", 14, 2, 64}})
        if (shape_name.empty() || std::string(s.name) == "qwen2.5-" + shape_name)
            shapes.push_back(s);
    std::vector<Kernel> kernels = {Kernel::Auto};
    if (attention::sm90_available()) kernels.push_back(Kernel::Sm80);
    if (only != "decode")
        for (const Shape &s : shapes)
            for (int n : prefill_lens)
                for (Kernel k : kernels)
                    for (bool scores : {false, true})
                        records.push_back(
                            prefill_record(s, n, prefill_cached, scores, k, prefill_cta_rows, rng));
    if (only != "prefill")
        for (const Shape &s : shapes)
            for (int batch : batches)
                for (int length : lens)
                    for (bool scores : {false, true})
                        for (Kv kv : kvs)
                            for (Kernel k : kernels)
                                for (bool pdl : pdl_modes)
                                    if (kv == Kv::Bf16 || k == Kernel::Auto)
                                        records.push_back(decode_record(s, batch, length, scores,
                                                                        rng, kv, splits, k, pdl));
    std::printf("{\"device\": \"%s\", \"sm_count\": %d, \"records\": [\n", prop.name,
                prop.multiProcessorCount);
    for (size_t i = 0; i < records.size(); ++i)
        std::printf("  %s%s\n", records[i].c_str(), i + 1 < records.size() ? "," : "");
    std::printf("]}\n");
    return 0;
}
