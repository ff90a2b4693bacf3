// Host side of the prefill kernels: argument checks, the choice between the Hopper kernel
// (prefill_sm90.cuh) and the mma.sync one (prefill.cuh), tile configuration per head size,
// launch; head sizes without a tensor-core kernel go to generic.h.
#include <algorithm>
#include <numeric>
#include <string>

#include "attention/generic.h"
#include "attention/launch.h"
#include "attention/prefill.cuh"
#include "attention/prefill_sm90.cuh"
#include "attention/tensor_map.h"

namespace cab::cuda::attn {

__global__ void prefill_scores_prepare(const DeviceStream *streams, PagedKv kv, int n, int window) {
    allow_dependents();  // the prefill kernel may start its flash pass now
    const DeviceStream st = streams[blockIdx.y];
    const int first = st.length - n;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < st.length;
         j += gridDim.x * blockDim.x) {
        float *slot = slot_scores(kv, st.blocks, j);
        slot[kObserversRow << kv.block_shift] += static_cast<float>(n - max(0, j - first));
        slot[kLastRow << kv.block_shift] = 0.0f;
        if (window > 0) slot[kWindowRow << kv.block_shift] = 0.0f;
    }
}

namespace {

// 4 warps of 32 rows each (2 m16 slices), as FlashAttention-2 on sm80/sm90: enough rows per warp
// that a K/V fragment read from shared memory feeds two mma, with S, P and O in registers.
using Prefill128 = PrefillConfig<128, 128, 64, 4>;
using Prefill64 = PrefillConfig<64, 128, 128, 4>;

// One CTA per (kv head, tile of BM rows), in the order PrefillCta describes: heads in x when the
// CTAs are at most four per SM.
dim3 row_grid(PrefillParams &p, int bm, int n_head_kv) {
    const int sms = attention::sm_count("attention prefill device query");
    const int tiles = (p.n_rows + bm - 1) / bm;
    p.heads_inner = static_cast<int64_t>(tiles) * n_head_kv <= 4 * static_cast<int64_t>(sms);
    return p.heads_inner ? dim3(n_head_kv, tiles) : dim3(tiles, n_head_kv);
}

// With scores the kernel follows the preparation kernel as a programmatic dependent launch:
// its flash pass overlaps the preparation, and it waits for it only before the score pass.
template <class C, bool kScores>
void launch(PrefillParams p, int n_head_kv, cudaStream_t stream) {
    auto kernel = prefill_kernel<C, kScores>;
    constexpr int smem = C::smem_bytes(kScores);
    static const bool configured = (attention::allow_smem(kernel, smem, "attention prefill"), true);
    (void)configured;
    const dim3 grid = row_grid(p, C::BM, n_head_kv);
    if (kScores) {
        attention::launch_dependent(kernel, grid, dim3(C::kThreads), smem, stream,
                                    "attention prefill", p);
    } else {
        kernel<<<grid, C::kThreads, smem, stream>>>(p);
        attention::check_launch("attention prefill");
    }
}

// The Hopper kernel, launched as prefill_kernel is; C::kCtasPerSm CTAs per SM (their registers
// fill one), for which the shared-memory carveout is set to its largest.
// Its producers copy whole tiles by tensor copies over a map of the pool: boxes of one block, or
// of a tile's part of a larger block. Blocks under 4 keys (more boxes per tile than a warp has
// lanes) and drivers without the encoder leave tma_rows = 0: cp.async only.
template <class C, bool kScores>
void launch_sm90(const PrefillParams &p, int n_head_kv, cudaStream_t stream) {
    auto kernel = prefill_sm90_kernel<C, kScores>;
    static const bool configured = [&] {
        attention::allow_smem(kernel, C::kSmemBytes, "attention prefill (sm90)");
        if (C::kCtasPerSm > 1 &&
            cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                 cudaSharedmemCarveoutMaxShared) != cudaSuccess)
            attention::check_launch("attention prefill (sm90)");
        return true;
    }();
    (void)configured;
    PrefillSm90Params pp{};
    pp.base = p;
    // Boxes divide both tiles: the flash pass's (BN keys) and the score pass's (BNS).
    const int block_size = 1 << p.kv.block_shift,
              box_rows = std::min(block_size, std::gcd(C::BN, C::BNS));
    // The pool's size is not known here: the map spans 2^31 rows (256 GiB at head_dim 64, more
    // than a GPU holds, and int row coordinates), the block tables name only blocks inside the
    // pool, and no copy relies on the map's bounds (the tile past a stream's end is cp.async's).
    constexpr uint64_t kPoolRows = uint64_t{1} << 31;
    if (block_size >= 4 &&
        attention::encode_bf16_tensor_map(pp.kv_map, p.kv.pool, kPoolRows, C::D, box_rows))
        pp.tma_rows = box_rows;
    const dim3 grid = row_grid(pp.base, C::BM, n_head_kv);
    if (kScores) {
        attention::launch_dependent(kernel, grid, dim3(C::kThreads), C::kSmemBytes, stream,
                                    "attention prefill (sm90)", pp);
    } else {
        kernel<<<grid, C::kThreads, C::kSmemBytes, stream>>>(pp);
        attention::check_launch("attention prefill (sm90)");
    }
}

// At head_dim 64 the kernel of three consumer warpgroups (192 rows a CTA) is the faster where its
// grid has at least 1.5 CTAs per SM (the crossover measured on the H100 at Qwen2.5-0.5B's shape
// lies between 2k tokens, 150 CTAs of 192 rows, and 3k, 224: PERFORMANCE.md); below that, one
// (64 rows, two CTAs an SM) where its grid has at most 3 CTAs per SM (with scores at 1.5k
// tokens, 336 CTAs, 35.9 against two consumers' 39.7 us; at 2k, 448, 50.6 against 50.0), else
// two (128 rows). `rows` (PrefillArgs::sm90_cta_rows) forces one.
template <class C90, bool kScores>
void launch_sm90_sized(const PrefillParams &p, int n_head_kv, int rows, cudaStream_t stream) {
    if constexpr (C90::kConsumerWarpgroups == 3) {
        if (rows == 0) {
            const int64_t sms = attention::sm_count("attention prefill device query");
            auto ctas = [&](int bm) { return (p.n_rows + bm - 1) / bm * int64_t{n_head_kv}; };
            rows = 2 * ctas(C90::BM) >= 3 * sms ? C90::BM : ctas(64) <= 3 * sms ? 64 : 128;
        }
        if (rows == 128) {
            launch_sm90<PrefillSm90Config<C90::D, 2>, kScores>(p, n_head_kv, stream);
            return;
        }
        if (rows == 64) {
            launch_sm90<PrefillSm90Config<C90::D, 1>, kScores>(p, n_head_kv, stream);
            return;
        }
    }
    launch_sm90<C90, kScores>(p, n_head_kv, stream);
}

template <class C, class C90>
void dispatch(const PrefillParams &p, const attention::PrefillArgs &args, bool sm90,
              cudaStream_t stream) {
    if (args.scores) {
        dim3 grid((args.max_length + 255) / 256, args.n_head_kv);
        prefill_scores_prepare<<<grid, 256, 0, stream>>>(args.streams, p.kv, args.n,
                                                         args.score_window);
        attention::check_launch("attention prefill score preparation");
        sm90 ? launch_sm90_sized<C90, true>(p, args.n_head_kv, args.sm90_cta_rows, stream)
             : launch<C, true>(p, args.n_head_kv, stream);
    } else {
        sm90 ? launch_sm90_sized<C90, false>(p, args.n_head_kv, args.sm90_cta_rows, stream)
             : launch<C, false>(p, args.n_head_kv, stream);
    }
}

// sm_90a code of the Hopper kernel is in this build (binaryVersion 90) and the device is sm_90.
bool sm90_runs() {
    int device = 0, major = 0, minor = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess)
        attention::check_launch("attention prefill device query");
    if (major != 9 || minor != 0) return false;
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, prefill_sm90_kernel<PrefillSm90Config<128>, false>) !=
        cudaSuccess) {
        (void)cudaGetLastError();  // no image for this device: not an error of the caller's
        return false;
    }
    return attr.binaryVersion == 90;
}

}  // namespace
}  // namespace cab::cuda::attn

namespace cab::cuda::attention {

void prefill(const PrefillArgs &args, cudaStream_t stream) {
    const int d = args.pool.head_dim;
    require(d >= 1 && d <= 256, CAB_ERR_UNSUPPORTED,
            "attention prefill: head_dim " + std::to_string(d) + " (1 to 256 supported)");
    require(args.n_head_kv > 0 && args.n_head > 0 && args.n_head % args.n_head_kv == 0,
            CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: n_head " + std::to_string(args.n_head) +
                " is not a multiple of n_head_kv " + std::to_string(args.n_head_kv));
    require(args.n > 0 && args.max_length >= args.n, CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: n " + std::to_string(args.n) + " must be in [1, max_length " +
                std::to_string(args.max_length) + "]");
    require(is_power_of_two(args.pool.block_size), CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: block_size " + std::to_string(args.pool.block_size) +
                " is not a power of two");
    require(args.pool.data && args.streams && args.q && args.out, CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: null pool, streams, q or out");
    require(!args.scores || args.pool.scores, CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: scores requested with a null pool.scores");
    require(!args.scores || args.score_window >= 0, CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: negative score_window");
    const int rows = args.sm90_cta_rows;
    require(rows == 0 || rows == 128 || ((rows == 64 || rows == 192) && d == 64),
            CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: sm90_cta_rows " + std::to_string(rows) + " at head_dim " +
                std::to_string(d) + " (0, 128, or 64 or 192 at head_dim 64)");
    if ((d != 64 && d != 128) || args.int8_blocks) {
        prefill_generic(args, stream);
        return;
    }
    require(args.q_stride % 8 == 0 && args.out_stride % 8 == 0, CAB_ERR_INVALID_ARGUMENT,
            "attention prefill: q_stride " + std::to_string(args.q_stride) + " and out_stride " +
                std::to_string(args.out_stride) + " must be multiples of 8 (16-byte rows)");

    attn::PrefillParams p{};
    p.q = static_cast<const attn::bf16 *>(args.q);
    p.out = static_cast<attn::bf16 *>(args.out);
    p.q_stride = args.q_stride;
    p.out_stride = args.out_stride;
    p.kv = attn::paged_kv(args.pool, args.scores ? args.pool.scores : nullptr,
                          log2_exact(args.pool.block_size));
    p.streams = args.streams;
    p.n = args.n;
    p.group = args.n_head / args.n_head_kv;
    p.n_rows = args.n * p.group;
    p.window = args.scores ? args.score_window : 0;
    p.scale_log2 = scale_log2(d);
    const bool sm90 = args.kernel != Kernel::Sm80 && sm90_available();
    require(sm90 || args.kernel != Kernel::Sm90, CAB_ERR_UNSUPPORTED,
            "attention prefill: the sm_90a kernel does not run on this device or build");
    if (d == 128) {
        attn::dispatch<attn::Prefill128, attn::PrefillSm90Config<128>>(p, args, sm90, stream);
    } else {
        attn::dispatch<attn::Prefill64, attn::PrefillSm90Config<64>>(p, args, sm90, stream);
    }
}

bool sm90_available() {
    static const bool available = attn::sm90_runs();
    return available;
}

}  // namespace cab::cuda::attention
