// The CPU test suite tests the CPU backend, the reference: its models load on the CPU even on a
// machine with a GPU (the default device, AUTO, would pick the GPU there). tests/gpu/ compares
// the CUDA backend against it. cpu_model_params() (the same through the C API) is in
// api_handles.h.
#pragma once

#include "api_handles.h"
#include "cab/cab.h"
#include "model/model.h"

namespace cab::test {

inline LoadOptions cpu_load() {
    LoadOptions o;
    o.device = CAB_DEVICE_CPU;
    return o;
}

}  // namespace cab::test
