#include "policy/forman_ricci.h"

#include <algorithm>
#include <cmath>

namespace cab {

namespace {

// sum_m x[m] * y[m] in double over four partial sums: one running sum is a chain of dependent
// adds (a few cycles each), which made these products most of cab-frc's time; four chains keep
// the adder busy and let the compiler pair them in vector registers.
template <class T>
double dot(const T *x, const T *y, size_t n) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    size_t m = 0;
    for (; m + 4 <= n; m += 4)
        for (size_t l = 0; l < 4; ++l) s[l] += double(x[m + l]) * double(y[m + l]);
    for (; m < n; ++m) s[0] += double(x[m]) * double(y[m]);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

}  // namespace

std::vector<double> cosine_adjacency(const float *points, int32_t n, int32_t d) {
    const size_t un = static_cast<size_t>(n), ud = static_cast<size_t>(d);
    std::vector<double> norm(un);
    for (size_t i = 0; i < un; ++i) norm[i] = std::sqrt(dot(&points[i * ud], &points[i * ud], ud));
    std::vector<double> a(un * un, 0.0);
    for (size_t i = 0; i < un; ++i) {
        for (size_t j = i + 1; j < un; ++j) {
            if (norm[i] == 0.0 || norm[j] == 0.0) continue;
            const double cosine = dot(&points[i * ud], &points[j * ud], ud) / (norm[i] * norm[j]);
            const double w = std::max(0.0, cosine);
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
            const double t = dot(&a[i * un], &a[j * un], un);
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
