// Reader and writer of the .safetensors format (https://github.com/huggingface/safetensors):
//   u64 LE header length N | N bytes of JSON header | data section
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" string map. The reader
// validates the whole header against the file size before any tensor is read (rules in
// docs/formats.md); every violation is a SURGEON_ERR_IO error naming the file and tensor.
// Files are memory-mapped; a read converts its range straight out of the mapping and then
// releases the pages it touched (MappedFile::release), so reading a large checkpoint one
// part at a time keeps the resident set near one part. Reads are safe from several threads.
// Byte order is little-endian on disk and on every host we build for.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.hpp"

namespace surgeon::model {

// The dtypes of the safetensors specification. Reading to float supports F32/F16/BF16/F64;
// the others are validated (sizes) and readable as raw bytes.
enum class Dtype { BOOL, U8, I8, U16, I16, F16, BF16, U32, I32, F32, U64, I64, F64, F8_E4M3, F8_E5M2 };

const char* dtype_name(Dtype d);           // "F32", ...
size_t dtype_size(Dtype d);                // bytes per element
bool parse_dtype(const std::string& name, Dtype* out);  // false for names outside the spec
// "f32" | "f16" | "bf16" (case-insensitive, also "float16", "bfloat16", "float32"), for CLIs
// and HF torch_dtype; throws SURGEON_ERR_INVALID_ARGUMENT otherwise.
Dtype parse_float_dtype(const std::string& name);
const char* torch_dtype_name(Dtype d);     // "float32", "float16", "bfloat16" (F32/F16/BF16)
bool is_float_dtype(Dtype d);              // the dtypes read_f32 reads: F32, F16, BF16, F64

struct TensorInfo {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;  // byte range inside the data section

    int64_t numel() const;
};

// An opened, fully validated .safetensors file; tensors are read on demand.
class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string& path);  // throws SURGEON_ERR_IO

    const std::string& path() const { return path_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in offset order
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    const TensorInfo& info(const std::string& name) const;  // throws SURGEON_ERR_IO if absent

    std::vector<char> read_bytes(const std::string& name) const;
    std::vector<float> read_f32(const std::string& name) const;    // from F32/F16/BF16/F64
    // Rows [r0, r1) of the first dimension (the tensor's other dimensions make one row),
    // as read_f32. Throws SURGEON_ERR_INVALID_ARGUMENT for a range outside [0, shape[0]].
    std::vector<float> read_f32_rows(const std::string& name, int64_t r0, int64_t r1) const;
    // The same rows written to `out` ((r1 - r0) · row size floats), for callers that own
    // the destination (a Matrix).
    void read_f32_rows(const std::string& name, int64_t r0, int64_t r1, float* out) const;
    std::vector<int32_t> read_i32(const std::string& name) const;  // I32 only
    std::vector<uint16_t> read_u16_bits(const std::string& name) const;  // F16/BF16 bits as stored

    // The file's path, size and modification time when it was opened (MappedFile::stamp).
    const std::string& stamp() const { return file_->stamp(); }

private:
    int64_t row_width(const TensorInfo& t, int64_t r0, int64_t r1) const;  // checks the range
    void floats(const TensorInfo& t, int64_t first, int64_t count, float* out) const;
    void copy_raw(const TensorInfo& t, void* out) const;

    std::string path_;
    std::unique_ptr<MappedFile> file_;
    uint64_t data_start_ = 0;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Collects tensors in memory, then writes them in insertion order. The header is padded
// with spaces so the data section starts 8-byte aligned.
class SafetensorsWriter {
public:
    // float32 values stored as F32, F16 or BF16 (round to nearest even).
    void add_float(const std::string& name, const std::vector<int64_t>& shape, const float* values,
                   Dtype dtype);
    void add_i32(const std::string& name, const std::vector<int64_t>& shape, const int32_t* values);
    void add_u8(const std::string& name, const std::vector<int64_t>& shape, const uint8_t* values);
    // Already-encoded F16/BF16 bits.
    void add_u16_bits(const std::string& name, const std::vector<int64_t>& shape,
                      const uint16_t* bits, Dtype dtype);
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
    bool contains(const std::string& name) const { return names_.count(name) != 0; }

    void write(const std::string& path) const;  // throws SURGEON_ERR_IO

private:
    struct Entry {
        std::string name;
        Dtype dtype;
        std::vector<int64_t> shape;
        std::vector<char> bytes;
    };
    Entry& add(const std::string& name, const std::vector<int64_t>& shape, Dtype dtype);
    std::vector<Entry> entries_;
    std::map<std::string, size_t> names_;
    std::map<std::string, std::string> metadata_;
};

// The tensors of a checkpoint directory or file: "model.safetensors", or the shards listed
// by "model.safetensors.index.json" ({"weight_map": {tensor: shard file}}), or one
// .safetensors file given directly. The index must agree with the shards: every listed
// tensor is in its shard, and every tensor of a listed shard is listed, for that shard.
class TensorStore {
public:
    explicit TensorStore(const std::string& path);  // throws SURGEON_ERR_IO

    bool contains(const std::string& name) const { return where_.count(name) != 0; }
    const TensorInfo& info(const std::string& name) const;  // throws SURGEON_ERR_IO if absent
    const std::string& path_of(const std::string& name) const;  // the file holding the tensor
    std::vector<float> read_f32(const std::string& name) const;
    std::vector<float> read_f32_rows(const std::string& name, int64_t r0, int64_t r1) const;
    void read_f32_rows(const std::string& name, int64_t r0, int64_t r1, float* out) const;
    std::vector<int32_t> read_i32(const std::string& name) const;
    std::vector<uint16_t> read_u16_bits(const std::string& name) const;
    std::vector<std::string> names() const;  // sorted
    size_t shard_count() const { return shards_.size(); }
    // The stamps (SafetensorsFile::stamp) of the index, when there is one, and of every shard.
    std::vector<std::string> stamps() const;

private:
    const SafetensorsFile& file_of(const std::string& name) const;
    std::vector<std::unique_ptr<SafetensorsFile>> shards_;
    std::map<std::string, size_t> where_;
    std::string path_;
    std::string index_stamp_;
};

}  // namespace surgeon::model
