// CUDA device discovery. Kernels and the CUDA backend proper build on this (DESIGN.md section 6).
#pragma once

#include <string>

namespace cab::cuda {

// Number of usable CUDA devices; 0 when there is no driver or no GPU (never throws).
int device_count() noexcept;

// "NVIDIA H100 80GB HBM3 (sm_90)" for a device index; throws cab::Error(DEVICE) on a bad index.
std::string device_description(int index);

}  // namespace cab::cuda
