#include "policy/forman_ricci.h"

#include <algorithm>
#include <cmath>

namespace cab {

std::vector<double> cosine_adjacency(const float *points, int32_t n, int32_t d) {
    const size_t un = static_cast<size_t>(n), ud = static_cast<size_t>(d);
    std::vector<double> norm(un);
    for (size_t i = 0; i < un; ++i) {
        double sq = 0.0;
        for (size_t c = 0; c < ud; ++c) sq += double(points[i * ud + c]) * points[i * ud + c];
        norm[i] = std::sqrt(sq);
    }
    std::vector<double> a(un * un, 0.0);
    for (size_t i = 0; i < un; ++i) {
        for (size_t j = i + 1; j < un; ++j) {
            if (norm[i] == 0.0 || norm[j] == 0.0) continue;
            double dot = 0.0;
            for (size_t c = 0; c < ud; ++c) dot += double(points[i * ud + c]) * points[j * ud + c];
            const double w = std::max(0.0, dot / (norm[i] * norm[j]));
            a[i * un + j] = w;
            a[j * un + i] = w;
        }
    }
    return a;
}

std::vector<double> forman_ricci_curvature(const std::vector<double> &a, int32_t n) {
    const size_t un = static_cast<size_t>(n);
    std::vector<double> strength(un, 0.0);
    for (size_t i = 0; i < un; ++i)
        for (size_t j = 0; j < un; ++j) strength[i] += a[i * un + j];

    std::vector<double> weighted(un, 0.0);  // sum_j A_ij F_ij
    for (size_t i = 0; i < un; ++i) {
        for (size_t j = i + 1; j < un; ++j) {
            const double w = a[i * un + j];
            if (w <= 0.0) continue;
            // (A A)_ij, the weighted triangles through the edge; A is symmetric, so row j
            // stands for column j and the loop reads memory in order.
            const double *row_i = &a[i * un], *row_j = &a[j * un];
            double t = 0.0;
            for (size_t m = 0; m < un; ++m) t += row_i[m] * row_j[m];
            const double f = 4.0 * w - strength[i] - strength[j] + 3.0 * t;
            weighted[i] += w * f;
            weighted[j] += w * f;
        }
    }
    std::vector<double> curvature(un, 0.0);
    for (size_t i = 0; i < un; ++i)
        if (strength[i] > 0.0) curvature[i] = weighted[i] / strength[i];
    return curvature;
}

}  // namespace cab
