// The CPU test suite tests the CPU backend, the reference: its models load on the CPU even on a
// machine with a GPU (the default device, AUTO, would pick the GPU there). tests/gpu/ compares
// the CUDA backend against it.
#pragma once

#include "cab/cab.h"
#include "model/model.h"

namespace cab::test {

inline LoadOptions cpu_load() {
    LoadOptions o;
    o.device = CAB_DEVICE_CPU;
    return o;
}

inline const cab_model_params *cpu_model_params() {
    static const cab_model_params params = [] {
        cab_model_params p{};
        p.struct_size = sizeof(p);
        cab_model_default_params(&p);
        p.device = CAB_DEVICE_CPU;
        return p;
    }();
    return &params;
}

}  // namespace cab::test
