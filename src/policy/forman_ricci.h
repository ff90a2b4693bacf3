// Forman-Ricci curvature on a small dense weighted graph, for `cab-frc`. Nodes of negative
// curvature sit between dense clusters (their edges share few triangles): bridges.
#pragma once

#include <cstdint>
#include <vector>

namespace cab {

// The graph on the rows of points [n][d]: A_ij = max(0, cos(p_i, p_j)) for i != j, A_ii = 0,
// row-major [n][n]. A zero row has cosine 0 with everything. O(n^2 d).
std::vector<double> cosine_adjacency(const float *points, int32_t n, int32_t d);

// Node curvatures of the symmetric, zero-diagonal weighted graph A [n][n]:
//   S_i = sum_j A_ij,  T = A A,  F_ij = 4 A_ij - S_i - S_j + 3 T_ij  (edges A_ij > 0),
//   c_i = sum_j A_ij F_ij / S_i  (the A-weighted mean of the edge curvatures), 0 if isolated.
// O(n^3) for T, only on edges that exist.
std::vector<double> forman_ricci_curvature(const std::vector<double> &adjacency, int32_t n);

}  // namespace cab
