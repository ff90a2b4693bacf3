#include "policy/key_means.h"

#include <algorithm>

namespace cab {

int32_t frc_run_length(int64_t n, const PolicyParams &p) {
    // In 64 bits: frc_block and frc_max_blocks may be up to INT32_MAX.
    const int64_t run =
        std::max<int64_t>(p.frc_block, (n + p.frc_max_blocks - 1) / p.frc_max_blocks);
    return static_cast<int32_t>(std::max<int64_t>(1, std::min(n, run)));
}

int64_t run_count(int64_t n, int32_t run) {
    return (n + run - 1) / run;
}

void key_means(const float *rows, int32_t n, int32_t d, int32_t run, float *out) {
    const size_t width = static_cast<size_t>(d);
    for (int64_t r = 0; r < run_count(n, run); ++r) {
        const int64_t begin = r * run, end = std::min<int64_t>(n, begin + run);
        float *mean = out + static_cast<size_t>(r) * width;
        std::fill(mean, mean + width, 0.0f);
        for (int64_t i = begin; i < end; ++i)
            for (size_t c = 0; c < width; ++c) mean[c] += rows[static_cast<size_t>(i) * width + c];
        for (size_t c = 0; c < width; ++c) mean[c] /= static_cast<float>(end - begin);
    }
}

}  // namespace cab
