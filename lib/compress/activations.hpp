// The calibration activations a block-by-block pass keeps between steps: one T × width
// matrix per calibration sequence (the hidden states at a block boundary, or an input the
// next group of linears needs). In memory by default; spilled to files under a directory
// (read and written with pread/pwrite, one file per store) when the caller asks, so long
// calibration sets cost disk rather than RAM.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/matrix.hpp"

namespace surgeon::model {

class ActivationStore {
public:
    virtual ~ActivationStore() = default;
    virtual size_t size() const = 0;
    // Takes matrix i out of the store (the store's slot is then empty until put back).
    virtual Matrix take(size_t i) = 0;
    // Reads matrix i without emptying its slot.
    virtual Matrix read(size_t i) const = 0;
    virtual void put(size_t i, Matrix m) = 0;
    // Bytes the store holds in RAM (0 for a spilled store).
    virtual uint64_t resident_bytes() const = 0;
};

// `count` empty slots in memory.
std::unique_ptr<ActivationStore> memory_store(size_t count);
// `count` slots spilled to `<dir>/<name>.f32` (created, removed with the store). Throws
// SURGEON_ERR_IO when the file cannot be created or written (a full disk).
std::unique_ptr<ActivationStore> disk_store(const std::string& dir, const std::string& name, size_t count);

// Makes the stores of a pass: in memory when `offload_dir` is "", else spilled there.
struct ActivationStores {
    std::string offload_dir;
    std::unique_ptr<ActivationStore> make(const std::string& name, size_t count) const;
};

}  // namespace surgeon::model
