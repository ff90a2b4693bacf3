// How decode cuts one stream's keys into splits; the decode kernel and the merge (cascade.cuh)
// both ask here, so they agree on which splits hold keys.
#pragma once

#include "attention/params.cuh"

namespace cab::cuda::attn {

// Split s of a stream holds keys [begin(s), end(s)), s < count.
//
// A pool without 8-bit blocks cuts at multiples of the plan's chunk. With them, a key of an
// 8-bit block reads about half the bytes of a bf16 one (d + 4 against 2d), so the splits share
// the stream's cost: its 8-bit prefix (DeviceStream::q8_length, cut to whole 8-bit tiles) at 1 a
// key, the rest at 2, in tiles of an 8-bit tile's cost (bf16 tiles past the prefix), dealt out
// as evenly as whole tiles go. That keeps the bf16 keys `quantize` leaves at a stream's end from
// piling onto its last split, when the plan gives such pools a split more than it chose by keys
// (heuristics.h: decode_tail_split). The prefix length only moves the cuts: the tiles read each
// block's type from the pool.
struct StreamSplits {
    int count;   // splits that hold keys
    int chunk;   // no 8-bit blocks: keys per split
    int q8;      // 8-bit blocks: the prefix in whole tiles
    int tiles;   // 8-bit blocks: tiles of cost, the last maybe partial
    int tile;    // keys of an 8-bit tile; 0 without 8-bit blocks
    int length;  // keys

    __device__ __forceinline__ int key_at(int cost) const {
        return min(length, cost <= q8 ? cost : q8 + (cost - q8) / 2);
    }
    __device__ __forceinline__ int begin(int split) const {
        if (tile == 0) return min(length, split * chunk);
        return key_at(split * tiles / count * tile);
    }
    __device__ __forceinline__ int end(int split) const {
        return split + 1 >= count ? length : begin(split + 1);
    }
};

// `grid`: the plan's splits (grid x); `q8_tile`: keys of an 8-bit tile when the pool has 8-bit
// blocks, else 0.
__device__ __forceinline__ StreamSplits stream_splits(const DeviceStream &st, int length, int chunk,
                                                      int grid, int q8_tile) {
    const int by_keys = (length + chunk - 1) / chunk;
    if (q8_tile == 0 || by_keys <= 1) return {by_keys, chunk, 0, 0, 0, length};
    const int q8 = min(max(st.q8_length, 0), length) / q8_tile * q8_tile;
    const int total = q8 + 2 * (length - q8);
    const int tiles = (total + q8_tile - 1) / q8_tile;
    // A split per chunk of cost (by keys, or one more for a bf16 tail), within the grid, and at
    // least a tile each.
    const int count = min((total + chunk - 1) / chunk, min(grid, tiles));
    return {count, chunk, q8, tiles, q8_tile, length};
}

}  // namespace cab::cuda::attn
