#include "io/safetensors.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/half.hpp"
#include "core/output_file.hpp"
#include "core/names.hpp"

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;

struct DtypeEntry {
    Dtype dtype;
    const char* name;
    size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {Dtype::BOOL, "BOOL", 1}, {Dtype::U8, "U8", 1},     {Dtype::I8, "I8", 1},
    {Dtype::U16, "U16", 2},   {Dtype::I16, "I16", 2},   {Dtype::F16, "F16", 2},
    {Dtype::BF16, "BF16", 2}, {Dtype::U32, "U32", 4},   {Dtype::I32, "I32", 4},
    {Dtype::F32, "F32", 4},   {Dtype::U64, "U64", 8},   {Dtype::I64, "I64", 8},
    {Dtype::F64, "F64", 8},   {Dtype::F8_E4M3, "F8_E4M3", 1}, {Dtype::F8_E5M2, "F8_E5M2", 1},
};

// The reference implementation's bound: a larger header is a corrupt or hostile file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Valid headers nest three deep ({name: {shape: [...]}}); deeper input is rejected before
// parsing so pathological nesting cannot exhaust the stack.
constexpr int kMaxJsonDepth = 8;

const DtypeEntry& entry_of(Dtype d) {
    for (const auto& e : kDtypes)
        if (e.dtype == d) return e;
    fail(SURGEON_ERR_INTERNAL, "unknown Dtype value");
}

[[noreturn]] void bad(const std::string& path, const std::string& why) {
    fail(SURGEON_ERR_IO, path + ": " + why);
}

int json_depth(const std::string& text) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return deepest;
}

// A JSON integer in [0, limit], or an error naming `what`.
uint64_t json_uint(const nlohmann::json& v, uint64_t limit, const std::string& path,
                   const std::string& what) {
    if (!v.is_number_integer()) bad(path, what + " must be a non-negative integer, got " + v.dump());
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > limit) bad(path, what + " " + std::to_string(u) + " is too large");
        return u;
    }
    const int64_t s = v.get<int64_t>();
    if (s < 0) bad(path, what + " must be non-negative, got " + std::to_string(s));
    if (static_cast<uint64_t>(s) > limit) bad(path, what + " " + std::to_string(s) + " is too large");
    return static_cast<uint64_t>(s);
}

uint64_t read_u64_le(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

void put_u64_le(AtomicFile& f, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    f.write(b, 8);
}

int64_t checked_numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) fail(SURGEON_ERR_SHAPE, "negative dimension " + std::to_string(d));
        if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
            fail(SURGEON_ERR_SHAPE, "tensor shape overflows");
        n *= d;
    }
    return n;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

}  // namespace

const char* dtype_name(Dtype d) { return entry_of(d).name; }
size_t dtype_size(Dtype d) { return entry_of(d).size; }

bool parse_dtype(const std::string& name, Dtype* out) {
    for (const auto& e : kDtypes)
        if (name == e.name) {
            *out = e.dtype;
            return true;
        }
    return false;
}

namespace {

// torch's names first (torch_dtype_name), then the short ones.
constexpr EnumName<Dtype> kFloatDtypes[] = {
    {Dtype::F32, "float32"}, {Dtype::F16, "float16"}, {Dtype::BF16, "bfloat16"}, {Dtype::F32, "f32"},
    {Dtype::F16, "f16"},     {Dtype::BF16, "bf16"},   {Dtype::F32, "float"},     {Dtype::F16, "half"},
    {Dtype::F16, "fp16"}};

}  // namespace

Dtype parse_float_dtype(const std::string& name) {
    std::string s = name;
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return parse_enum(kFloatDtypes, s, "float dtype");
}

const char* torch_dtype_name(Dtype d) {
    const char* name = enum_name(kFloatDtypes, d, nullptr);
    if (!name) fail(SURGEON_ERR_INVALID_ARGUMENT, std::string("no torch float dtype for ") + dtype_name(d));
    return name;
}

int64_t TensorInfo::numel() const { return checked_numel(shape); }

// ---------------------------------------------------------------------------------------
// Reader

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) bad(path, "is a directory, not a .safetensors file");
    file_ = std::make_unique<MappedFile>(path);
    const uint64_t file_size = file_->size();
    if (file_size < 8) bad(path, "too small for a safetensors header (" + std::to_string(file_size) + " bytes)");

    const uint64_t header_len = read_u64_le(file_->bytes(0, 8, "the header length"));
    if (header_len < 2) bad(path, "header length " + std::to_string(header_len) + " is too small");
    if (header_len > kMaxHeaderBytes)
        bad(path, "header length " + std::to_string(header_len) + " exceeds the " +
                      std::to_string(kMaxHeaderBytes) + "-byte limit");
    if (header_len > file_size - 8)
        bad(path, "header length " + std::to_string(header_len) + " runs past the end of the " +
                      std::to_string(file_size) + "-byte file");

    const std::string header(reinterpret_cast<const char*>(file_->bytes(8, header_len, "the header")),
                             static_cast<size_t>(header_len));
    file_->release(0, 8 + header_len);
    data_start_ = 8 + header_len;
    const uint64_t data_size = file_size - data_start_;

    if (header[0] != '{') bad(path, "header is not a JSON object");
    if (json_depth(header) > kMaxJsonDepth) bad(path, "header JSON is nested too deeply");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(header);
    } catch (const nlohmann::json::exception& e) {
        bad(path, std::string("invalid header JSON: ") + e.what());
    }
    if (!j.is_object()) bad(path, "header is not a JSON object");

    for (const auto& [name, value] : j.items()) {
        if (name == "__metadata__") {
            if (!value.is_object()) bad(path, "__metadata__ must be an object of strings");
            for (const auto& [key, text] : value.items()) {
                if (!text.is_string()) bad(path, "__metadata__ value of '" + key + "' is not a string");
                metadata_[key] = text.get<std::string>();
            }
            continue;
        }
        const std::string where = "tensor '" + name + "'";
        if (!value.is_object()) bad(path, where + ": entry is not an object");
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!value.contains(key)) bad(path, where + ": missing \"" + key + "\"");
        TensorInfo t;
        t.name = name;
        const auto& dt = value["dtype"];
        if (!dt.is_string()) bad(path, where + ": dtype is not a string");
        if (!parse_dtype(dt.get<std::string>(), &t.dtype))
            bad(path, where + ": unknown dtype '" + dt.get<std::string>() + "'");
        const auto& shape = value["shape"];
        if (!shape.is_array()) bad(path, where + ": shape is not an array");
        uint64_t numel = 1;
        for (const auto& d : shape) {
            const uint64_t n = json_uint(d, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                                         path, where + " dimension");
            if (n != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n)
                bad(path, where + ": shape " + shape.dump() + " overflows");
            numel *= n;
            t.shape.push_back(static_cast<int64_t>(n));
        }
        const auto& offsets = value["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2)
            bad(path, where + ": data_offsets must be [begin, end]");
        t.begin = json_uint(offsets[0], std::numeric_limits<uint64_t>::max(), path, where + " begin offset");
        t.end = json_uint(offsets[1], std::numeric_limits<uint64_t>::max(), path, where + " end offset");
        if (t.begin > t.end)
            bad(path, where + ": data_offsets begin " + std::to_string(t.begin) + " > end " +
                          std::to_string(t.end));
        if (t.end > data_size)
            bad(path, where + ": data_offsets end " + std::to_string(t.end) +
                          " is past the data section (" + std::to_string(data_size) +
                          " bytes; truncated file?)");
        const uint64_t item = dtype_size(t.dtype);
        if (numel > std::numeric_limits<uint64_t>::max() / item)
            bad(path, where + ": byte size overflows");
        if (t.end - t.begin != numel * item)
            bad(path, where + ": " + std::to_string(t.end - t.begin) + " bytes for shape " +
                          shape_text(t.shape) + " of " + dtype_name(t.dtype) + " (expected " +
                          std::to_string(numel * item) + ")");
        tensors_.push_back(std::move(t));
    }

    // The data section must be tiled exactly: no overlaps (aliasing), no holes, nothing
    // after the last tensor (as the reference implementation requires).
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t cursor = 0;
    const TensorInfo* previous = nullptr;
    for (const auto& t : tensors_) {
        if (t.begin < cursor)
            bad(path, "tensor '" + t.name + "' overlaps tensor '" + previous->name + "'");
        if (t.begin > cursor)
            bad(path, "hole in the data section before tensor '" + t.name + "' (bytes " +
                          std::to_string(cursor) + ".." + std::to_string(t.begin) + " unused)");
        cursor = t.end;
        previous = &t;
    }
    if (cursor != data_size)
        bad(path, "data section has " + std::to_string(data_size - cursor) +
                      " bytes after the last tensor");
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) bad(path_, "no tensor '" + name + "'");
    return tensors_[it->second];
}

namespace {

// Widens `n` stored values of a float dtype to fp32; one loop per dtype.
void widen_to_f32(Dtype dtype, const unsigned char* p, size_t n, float* out) {
    switch (dtype) {
        case Dtype::F32:
            if (n > 0) std::memcpy(out, p, 4 * n);
            return;
        case Dtype::BF16:
            for (size_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                out[i] = bf16_to_float(h);
            }
            return;
        case Dtype::F16:
            for (size_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                out[i] = f16_to_float(h);
            }
            return;
        case Dtype::F64:
            for (size_t i = 0; i < n; ++i) {
                double d;
                std::memcpy(&d, p + 8 * i, 8);
                out[i] = static_cast<float>(d);
            }
            return;
        default:
            fail(SURGEON_ERR_INTERNAL, std::string("widen_to_f32: ") + dtype_name(dtype) + " is no float dtype");
    }
}

}  // namespace

bool is_float_dtype(Dtype d) { return d == Dtype::F32 || d == Dtype::F16 || d == Dtype::BF16 || d == Dtype::F64; }

void SafetensorsFile::copy_raw(const TensorInfo& t, void* out) const {
    const uint64_t offset = data_start_ + t.begin, length = t.end - t.begin;
    const unsigned char* p = file_->bytes(offset, length, "tensor '" + t.name + "'");
    if (length > 0) std::memcpy(out, p, static_cast<size_t>(length));
    file_->release(offset, length);
}

void SafetensorsFile::floats(const TensorInfo& t, int64_t first, int64_t count, float* out) const {
    if (!is_float_dtype(t.dtype))
        bad(path_, "tensor '" + t.name + "' has dtype " + dtype_name(t.dtype) +
                       " (F32, F16, BF16 or F64 expected)");
    const uint64_t item = dtype_size(t.dtype);
    const uint64_t offset = data_start_ + t.begin + static_cast<uint64_t>(first) * item;
    const uint64_t length = static_cast<uint64_t>(count) * item;
    widen_to_f32(t.dtype, file_->bytes(offset, length, "tensor '" + t.name + "'"), static_cast<size_t>(count), out);
    file_->release(offset, length);
}

int64_t SafetensorsFile::row_width(const TensorInfo& t, int64_t r0, int64_t r1) const {
    require_arg(!t.shape.empty(), path_ + ": tensor '" + t.name + "' is a scalar and has no rows");
    require_arg(r0 >= 0 && r0 <= r1 && r1 <= t.shape[0],
                path_ + ": rows [" + std::to_string(r0) + ", " + std::to_string(r1) + ") of tensor '" + t.name +
                    "' are outside its " + std::to_string(t.shape[0]) + " rows");
    return t.shape[0] > 0 ? t.numel() / t.shape[0] : 0;
}

std::vector<char> SafetensorsFile::read_bytes(const std::string& name) const {
    const TensorInfo& t = info(name);
    std::vector<char> bytes(static_cast<size_t>(t.end - t.begin));
    copy_raw(t, bytes.data());
    return bytes;
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
    const TensorInfo& t = info(name);
    std::vector<float> out(static_cast<size_t>(t.numel()));
    floats(t, 0, t.numel(), out.data());
    return out;
}

std::vector<float> SafetensorsFile::read_f32_rows(const std::string& name, int64_t r0, int64_t r1) const {
    const TensorInfo& t = info(name);
    const int64_t width = row_width(t, r0, r1);
    std::vector<float> out(static_cast<size_t>((r1 - r0) * width));
    floats(t, r0 * width, (r1 - r0) * width, out.data());
    return out;
}

void SafetensorsFile::read_f32_rows(const std::string& name, int64_t r0, int64_t r1, float* out) const {
    const TensorInfo& t = info(name);
    const int64_t width = row_width(t, r0, r1);
    floats(t, r0 * width, (r1 - r0) * width, out);
}

std::vector<int32_t> SafetensorsFile::read_i32(const std::string& name) const {
    const TensorInfo& t = info(name);
    if (t.dtype != Dtype::I32)
        bad(path_, "tensor '" + name + "' has dtype " + dtype_name(t.dtype) + " (I32 expected)");
    std::vector<int32_t> out(static_cast<size_t>(t.numel()));
    copy_raw(t, out.data());
    return out;
}

std::vector<uint16_t> SafetensorsFile::read_u16_bits(const std::string& name) const {
    const TensorInfo& t = info(name);
    if (t.dtype != Dtype::F16 && t.dtype != Dtype::BF16)
        bad(path_, "tensor '" + name + "' has dtype " + dtype_name(t.dtype) + " (F16 or BF16 expected)");
    std::vector<uint16_t> out(static_cast<size_t>(t.numel()));
    copy_raw(t, out.data());
    return out;
}

// ---------------------------------------------------------------------------------------
// Writer

SafetensorsWriter::Entry& SafetensorsWriter::add(const std::string& name,
                                                 const std::vector<int64_t>& shape, Dtype dtype) {
    require_arg(name != "__metadata__" && !name.empty(), "invalid tensor name '" + name + "'");
    require_arg(!names_.count(name), "tensor '" + name + "' added twice");
    const int64_t n = checked_numel(shape);
    names_[name] = entries_.size();
    entries_.push_back({name, dtype, shape, std::vector<char>(static_cast<size_t>(n) * dtype_size(dtype))});
    return entries_.back();
}

void SafetensorsWriter::add_float(const std::string& name, const std::vector<int64_t>& shape,
                                  const float* values, Dtype dtype) {
    require_arg(dtype == Dtype::F32 || dtype == Dtype::F16 || dtype == Dtype::BF16,
                std::string("cannot store floats as ") + dtype_name(dtype));
    Entry& e = add(name, shape, dtype);
    const size_t n = e.bytes.size() / dtype_size(dtype);
    char* p = e.bytes.data();
    if (dtype == Dtype::F32) {
        if (n) std::memcpy(p, values, 4 * n);
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        const uint16_t h = dtype == Dtype::F16 ? float_to_f16(values[i]) : float_to_bf16(values[i]);
        std::memcpy(p + 2 * i, &h, 2);
    }
}

void SafetensorsWriter::add_i32(const std::string& name, const std::vector<int64_t>& shape,
                                const int32_t* values) {
    Entry& e = add(name, shape, Dtype::I32);
    if (!e.bytes.empty()) std::memcpy(e.bytes.data(), values, e.bytes.size());
}

void SafetensorsWriter::add_u8(const std::string& name, const std::vector<int64_t>& shape,
                               const uint8_t* values) {
    Entry& e = add(name, shape, Dtype::U8);
    if (!e.bytes.empty()) std::memcpy(e.bytes.data(), values, e.bytes.size());
}

void SafetensorsWriter::add_u16_bits(const std::string& name, const std::vector<int64_t>& shape,
                                     const uint16_t* bits, Dtype dtype) {
    require_arg(dtype == Dtype::F16 || dtype == Dtype::BF16, "16-bit tensors must be F16 or BF16");
    Entry& e = add(name, shape, dtype);
    if (!e.bytes.empty()) std::memcpy(e.bytes.data(), bits, e.bytes.size());
}

void SafetensorsWriter::write(const std::string& path) const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata_) meta[k] = v;
        header["__metadata__"] = meta;
    }
    uint64_t offset = 0;
    for (const Entry& e : entries_) {
        const uint64_t next = offset + e.bytes.size();
        header[e.name] = {{"dtype", dtype_name(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, next}}};
        offset = next;
    }
    std::string text = header.dump();
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');

    AtomicFile f(path);
    put_u64_le(f, text.size());
    f.write(text);
    for (const Entry& e : entries_) f.write(e.bytes.data(), e.bytes.size());
    f.commit();
}

// ---------------------------------------------------------------------------------------
// Checkpoints (single file or sharded)

TensorStore::TensorStore(const std::string& path) : path_(path) {
    std::error_code ec;
    std::string single;
    if (!fs::is_directory(path, ec)) {
        single = path;
    } else if (fs::exists(fs::path(path) / "model.safetensors", ec)) {
        single = (fs::path(path) / "model.safetensors").string();
    }
    if (!single.empty()) {
        shards_.push_back(std::make_unique<SafetensorsFile>(single));
        for (const auto& t : shards_[0]->tensors()) where_[t.name] = 0;
        return;
    }
    const fs::path index_path = fs::path(path) / "model.safetensors.index.json";
    if (!fs::exists(index_path, ec))
        fail(SURGEON_ERR_IO, path + ": no model.safetensors or model.safetensors.index.json");
    if (fs::is_directory(index_path, ec)) bad(index_path.string(), "is a directory, not a JSON file");
    std::ifstream f(index_path);
    if (!f) fail(SURGEON_ERR_IO, "cannot open '" + index_path.string() + "'");
    nlohmann::json index;
    try {
        index = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        bad(index_path.string(), std::string("invalid JSON: ") + e.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
        bad(index_path.string(), "missing \"weight_map\" object");
    std::map<std::string, size_t> shard_of_file;
    for (const auto& [tensor, file] : index["weight_map"].items()) {
        if (!file.is_string()) bad(index_path.string(), "weight_map entry '" + tensor + "' is not a string");
        const std::string shard = file.get<std::string>();
        // Shards are siblings of the index: no paths, so an index cannot point elsewhere.
        if (shard.empty() || shard == "." || shard == ".." ||
            shard.find_first_of("/\\") != std::string::npos)
            bad(index_path.string(), "invalid shard file name '" + shard + "'");
        auto it = shard_of_file.find(shard);
        if (it == shard_of_file.end()) {
            shards_.push_back(std::make_unique<SafetensorsFile>((fs::path(path) / shard).string()));
            it = shard_of_file.emplace(shard, shards_.size() - 1).first;
        }
        if (!shards_[it->second]->contains(tensor))
            bad(index_path.string(), "tensor '" + tensor + "' is not in shard '" + shard + "'");
        where_[tensor] = it->second;
    }
    // The other direction: a shard holds only tensors the index maps to it.
    for (const auto& [shard, k] : shard_of_file)
        for (const TensorInfo& t : shards_[k]->tensors()) {
            auto it = where_.find(t.name);
            if (it == where_.end())
                bad(index_path.string(), "shard '" + shard + "' holds tensor '" + t.name +
                                             "', which the weight_map does not list");
            if (it->second != k)
                bad(index_path.string(), "tensor '" + t.name + "' is in shard '" + shard +
                                             "' but the weight_map maps it to '" +
                                             fs::path(shards_[it->second]->path()).filename().string() + "'");
        }
    index_stamp_ = file_stamp(index_path.string());
}

const SafetensorsFile& TensorStore::file_of(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) bad(path_, "checkpoint has no tensor '" + name + "'");
    return *shards_[it->second];
}

const TensorInfo& TensorStore::info(const std::string& name) const { return file_of(name).info(name); }
const std::string& TensorStore::path_of(const std::string& name) const { return file_of(name).path(); }
std::vector<float> TensorStore::read_f32(const std::string& name) const { return file_of(name).read_f32(name); }
std::vector<float> TensorStore::read_f32_rows(const std::string& name, int64_t r0, int64_t r1) const {
    return file_of(name).read_f32_rows(name, r0, r1);
}
void TensorStore::read_f32_rows(const std::string& name, int64_t r0, int64_t r1, float* out) const {
    file_of(name).read_f32_rows(name, r0, r1, out);
}
std::vector<int32_t> TensorStore::read_i32(const std::string& name) const { return file_of(name).read_i32(name); }
std::vector<uint16_t> TensorStore::read_u16_bits(const std::string& name) const {
    return file_of(name).read_u16_bits(name);
}

std::vector<std::string> TensorStore::stamps() const {
    std::vector<std::string> out;
    if (!index_stamp_.empty()) out.push_back(index_stamp_);
    for (const auto& shard : shards_) out.push_back(shard->stamp());
    return out;
}

std::vector<std::string> TensorStore::names() const {
    std::vector<std::string> out;
    for (const auto& kv : where_) out.push_back(kv.first);
    return out;
}

}  // namespace surgeon::model
