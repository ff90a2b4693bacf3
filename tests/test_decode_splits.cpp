// How CUDA decode splits its keys (cuda/attention/heuristics.h, host code only): the split
// counts it chooses for the H100's slots (132 SMs, 4 CTAs per SM at head_dim 64, 2 at 128) at
// the shapes the benchmark measures, counted after the rounding to whole 64-key tiles.
#include <catch2/catch.hpp>

#include "attention/heuristics.h"

using namespace cab::cuda::attention;

namespace {

constexpr int kTile = 64;
constexpr int kSlots64 = 132 * 4, kSlots128 = 132 * 2;

// The splits plan_decode makes of the heuristic's choice.
int splits(int units, int max_length, int slots, int tile = kTile) {
    return decode_tiled_splits(max_length, decode_num_splits(units, max_length, slots, tile), tile);
}

// The same for the Hopper kernel's rule on the H100's 132 SMs, launched alone or as a dependent.
int sm90(int units, int max_length, int slots, bool dependent = false) {
    return decode_tiled_splits(
        max_length, decode_num_splits_sm90(units, max_length, 132, slots, kTile, dependent), kTile);
}

}  // namespace

TEST_CASE("decode splits: rounding keys up to tiles", "[decode_splits]") {
    CHECK(decode_chunk(4096, 28, kTile) == 192);
    CHECK(decode_tiled_splits(4096, 28, kTile) == 22);
    CHECK(decode_tiled_splits(4096, 32, kTile) == 32);
    CHECK(decode_tiled_splits(4100, 33, kTile) == 33);
    CHECK(decode_tiled_splits(100, 7, kTile) == 2);  // never more splits than asked
}

TEST_CASE("decode splits: short streams are one split", "[decode_splits]") {
    CHECK(decode_num_splits(2, 1, kSlots64, kTile) == 1);
    CHECK(decode_num_splits(2, kDecodeOneSplitKeys, kSlots64, kTile) == 1);
    CHECK(splits(2, kDecodeOneSplitKeys + 1, kSlots64) == 3);
}

TEST_CASE("decode splits: batch 1 takes every split of 128 keys that fits a wave",
          "[decode_splits]") {
    // 0.5B shape (2 kv heads): 32 splits at 4k keys, 128 (the most) from 16k.
    CHECK(splits(2, 4096, kSlots64) == 32);
    CHECK(splits(2, 4100, kSlots64) == 33);  // the engine's 4k context plus a few steps
    CHECK(splits(2, 16384, kSlots64) == 128);
    CHECK(splits(2, 32768, kSlots64) == 128);
    // 7B shape (4 kv heads): 128 splits would take two waves of its 264 slots; 64 fill one.
    CHECK(splits(4, 4096, kSlots128) == 32);
    CHECK(splits(4, 16384, kSlots128) == 64);
    CHECK(splits(4, 32768, kSlots128) == 64);
}

TEST_CASE("decode splits: larger batches take the fewest splits of a near-full last wave",
          "[decode_splits]") {
    // 0.5B batch 16 (32 units): 16 splits are 512 CTAs on 528 slots; 32 fill two waves no better.
    CHECK(splits(32, 4096, kSlots64) == 16);
    CHECK(splits(32, 16384, kSlots64) == 16);
    CHECK(splits(32, 32768, kSlots64) == 16);
    // 7B batch 16 (64 units): 4 splits, not the many waves of a slightly fuller last one.
    CHECK(splits(64, 4096, kSlots128) == 4);
    CHECK(splits(64, 32768, kSlots128) == 4);
    // Batch 64: 4 splits of the 0.5B shape, 1 of the 7B shape (256 CTAs on 264 slots).
    CHECK(splits(128, 16384, kSlots64) == 4);
    CHECK(splits(256, 16384, kSlots128) == 1);
}

TEST_CASE("decode splits: never more than the merge takes", "[decode_splits]") {
    for (int units : {1, 2, 4, 7, 32, 64, 256})
        for (int length : {257, 1000, 4100, 65536, 1 << 20}) {
            const int s = splits(units, length, kSlots64);
            INFO("units " << units << ", keys " << length);
            CHECK(s >= 1);
            CHECK(s <= kDecodeMaxSplits);
        }
}

TEST_CASE("decode splits: the Hopper kernel gives short splits one CTA per SM", "[decode_splits]") {
    // Where the general rule's splits are short, one CTA per SM: at most 4k keys (0.5B batch 64
    // one split, 128 CTAs and no merge), or longer streams whose general splits hold at most 512
    // keys (7B batch 1 at 16k and 32k keys, 0.5B batch 2 at 16k).
    struct OnePerSm {
        int units, length, slots, general, sm90;
        const char *what;
    };
    for (const OnePerSm &c : {
             OnePerSm{128, 4096, kSlots64, 4, 1, "0.5B batch 64, 4k"},
             OnePerSm{32, 4096, kSlots64, 16, 4, "0.5B batch 16, 4k"},
             OnePerSm{64, 4096, kSlots128, 4, 2, "7B batch 16, 4k"},
             OnePerSm{16, 4096, kSlots128, 16, 8, "7B batch 4, 4k"},
             OnePerSm{4, 16384, kSlots128, 64, 32, "7B batch 1, 16k"},
             OnePerSm{4, 32768, kSlots128, 64, 32, "7B batch 1, 32k"},
             OnePerSm{4, 16384, kSlots64, 128, 32, "0.5B batch 2, 16k"},
         }) {
        INFO(c.what);
        CHECK(splits(c.units, c.length, c.slots) == c.general);
        CHECK(sm90(c.units, c.length, c.slots) == c.sm90);
    }
    // Else the general rule.
    struct General {
        int units, length, slots;
        const char *why;
    };
    for (const General &c : {
             General{32, 16384, kSlots64, "0.5B batch 16: general splits of 1,024 keys"},
             General{128, 16384, kSlots64, "0.5B batch 64: general splits of 4,096 keys"},
             General{64, 16384, kSlots128, "7B batch 16: general splits of 4,096 keys"},
             General{2, 16384, kSlots64, "0.5B batch 1: 66 splits would be 256 keys"},
             General{2, 4096, kSlots64, "0.5B batch 1: 66 splits would be 64 keys"},
             General{8, 4096, kSlots64, "0.5B batch 4: 16 splits would be 256 keys"},
             General{28, 4096, kSlots64, "4 splits cover 85% of the SMs"},
             General{256, 4096, kSlots128, "more units than SMs"},
         }) {
        INFO(c.why);
        CHECK(sm90(c.units, c.length, c.slots) == splits(c.units, c.length, c.slots));
    }
    CHECK(sm90(2, 200, kSlots64) == 1);
}

TEST_CASE("decode splits: launched as a dependent, the Hopper kernel takes more, shorter splits",
          "[decode_splits]") {
    // The most splits the slots hold at once whose keys are at least 384, also where one CTA per
    // SM would take a whole stream.
    struct Case {
        int units, length, slots, alone, dependent;
        const char *what;
    };
    for (const Case &c : {
             Case{64, 4096, kSlots128, 2, 4, "7B batch 16, 4k: the slots hold 4 splits"},
             Case{32, 4096, kSlots128, 4, 8, "7B batch 8, 4k"},
             Case{16, 4096, kSlots128, 8, 11, "7B batch 4, 4k: 384 keys"},
             Case{4, 16384, kSlots128, 32, 43, "7B batch 1, 16k: 384 keys"},
             Case{4, 32768, kSlots128, 32, 64, "7B batch 1, 32k: the slots hold 64 splits"},
             Case{8, 16384, kSlots128, 16, 32, "7B batch 2, 16k"},
             Case{32, 4096, kSlots64, 4, 11, "0.5B batch 16, 4k: 384 keys"},
             Case{32, 8192, kSlots64, 4, 16, "0.5B batch 16, 8k: 4 CTAs per SM"},
             Case{8, 16384, kSlots64, 16, 43, "0.5B batch 4, 16k"},
             Case{4, 32768, kSlots64, 32, 86, "0.5B batch 2, 32k"},
             Case{2, 32768, kSlots64, 64, 86, "0.5B batch 1, 32k"},
             Case{128, 4096, kSlots64, 1, 4, "0.5B batch 64, 4k: one CTA per SM alone"},
             Case{128, 2048, kSlots64, 1, 4, "0.5B batch 64, 2k"},
             Case{128, 1024, kSlots64, 1, 3, "0.5B batch 64, 1k: 384 keys"},
             Case{128, 4096, kSlots128, 1, 2, "7B batch 32, 4k: the slots hold 2 splits"},
         }) {
        INFO(c.what);
        CHECK(sm90(c.units, c.length, c.slots, false) == c.alone);
        CHECK(sm90(c.units, c.length, c.slots, true) == c.dependent);
        CHECK(decode_chunk(c.length, c.dependent, kTile) >= kDecodeSm90DependentSplitKeys);
    }
    // Unchanged wherever the general rule applies.
    struct Same {
        int units, length, slots;
        const char *why;
    };
    for (const Same &c : {
             Same{32, 16384, kSlots64, "0.5B batch 16, 16k: the general rule"},
             Same{2, 4096, kSlots64, "0.5B batch 1, 4k: the general rule"},
             Same{4, 8192, kSlots128, "7B batch 1, 8k: the general rule"},
             Same{256, 4096, kSlots128, "more units than SMs"},
         }) {
        INFO(c.why);
        CHECK(sm90(c.units, c.length, c.slots, true) == sm90(c.units, c.length, c.slots, false));
    }
}

TEST_CASE("decode merge: the kernel and rows a CTA takes per split count", "[decode_splits]") {
    struct Case {
        int group, splits;
        DecodeMerge merge;
        const char *what;
    };
    for (const Case &c : {
             Case{7, 4, {true, 7}, "7B batch 16, 4k: the whole group as vectors"},
             Case{7, kDecodeMergeGroupSplits, {true, 7}, "the most for a whole group"},
             Case{7, 8, {false, 1}, "7B batch 4, 4k, launched alone"},
             Case{7, 11, {false, 1}, "0.5B batch 16, 4k: a CTA per row"},
             Case{7, kDecodeMergeVectorSplits, {false, 1}, "0.5B batch 1, 4k"},
             Case{7, 43, {true, 1}, "7B batch 1, 16k: a row as vectors"},
             Case{7, kDecodeMaxSplits, {true, 1}, "0.5B batch 1, 16k"},
             Case{16, 3, {true, 16}, "16 heads"},
             Case{1, 2, {true, 1}, "a group of one"},
         }) {
        INFO(c.what);
        const DecodeMerge m = decode_merge(c.group, c.splits);
        CHECK(m.vectors == c.merge.vectors);
        CHECK(m.rows == c.merge.rows);
    }
}
