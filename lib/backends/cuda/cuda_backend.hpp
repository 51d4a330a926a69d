// CUDA backend (SURGEON_CUDA): the Backend operations on device 0 with cuBLAS and
// cuSOLVER. backend_for() hands it out to a context that selects
// Device::cuda when a device is present.
#pragma once

#include <memory>

#include "core/backend.hpp"

namespace surgeon {

// CUDA devices this process can use; 0 without a driver or a device.
int cuda_device_count();

// A backend on the current CUDA device, or nullptr when there is none. Calls doing fewer
// than min_device_work multiply-adds go to `host`: below that, the transfers cost more
// than the arithmetic saves.
std::unique_ptr<Backend> make_cuda_backend(double min_device_work, Backend& host);

}  // namespace surgeon
