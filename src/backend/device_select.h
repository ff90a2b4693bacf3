// Resolves the device a caller asked for (AUTO, CPU, CUDA) into the one libcab will use.
#pragma once

#include "cab/cab.h"

namespace cab {

// AUTO picks CUDA when this build has a CUDA backend and a GPU is present, else the CPU.
// Throws cab::Error(UNSUPPORTED) when CUDA is asked for and cannot be had, saying why.
cab_device resolve_device(cab_device requested, int gpu_index);

}  // namespace cab
