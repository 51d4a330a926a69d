#include "compress/run_state.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "compress/block_compress.hpp"
#include "compress/bytes.hpp"
#include "core/error.hpp"

namespace surgeon::model {
namespace {

namespace fs = std::filesystem;

std::string path_in(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

struct FileCloser {
    void operator()(std::FILE* f) const {
        if (f) std::fclose(f);
    }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// A binary file written under "<path>.tmp" and renamed by commit().
class AtomicWriter : public ValueWriter<AtomicWriter> {
public:
    explicit AtomicWriter(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
        f_.reset(std::fopen(tmp_.c_str(), "wb"));
        if (!f_) fail(SURGEON_ERR_IO, "cannot create '" + tmp_ + "'");
    }
    void bytes(const void* p, size_t n) {
        if (n && std::fwrite(p, 1, n, f_.get()) != n) fail(SURGEON_ERR_IO, "cannot write '" + tmp_ + "' (disk full?)");
    }
    void commit() {
        if (std::fflush(f_.get()) != 0 || fsync(fileno(f_.get())) != 0)
            fail(SURGEON_ERR_IO, "cannot write '" + tmp_ + "' (disk full?)");
        if (std::fclose(f_.release()) != 0) fail(SURGEON_ERR_IO, "cannot write '" + tmp_ + "'");
        std::error_code ec;
        fs::rename(tmp_, path_, ec);
        if (ec) fail(SURGEON_ERR_IO, "cannot rename '" + tmp_ + "': " + ec.message());
    }

private:
    std::string path_, tmp_;
    File f_;
};

class Reader : public ValueReader<Reader> {
public:
    explicit Reader(std::string path) : path_(std::move(path)), f_(std::fopen(path_.c_str(), "rb")) {
        if (!f_) fail(SURGEON_ERR_IO, "cannot open '" + path_ + "' (run state)");
    }
    void bytes(void* p, size_t n) {
        if (n && std::fread(p, 1, n, f_.get()) != n) fail(SURGEON_ERR_IO, "'" + path_ + "' is truncated");
    }
    void check_count(int64_t n, size_t) const {
        if (n < 0 || n > (int64_t{1} << 40)) fail(SURGEON_ERR_IO, "'" + path_ + "' is corrupt");
    }

private:
    std::string path_;
    File f_;
};

constexpr int64_t kStatesMagic = 0x53544154534e4753;  // "SGNSTATS"

std::string states_name(int64_t blocks_done) { return "states-" + std::to_string(blocks_done) + ".f32"; }
std::string quant_name(int64_t block) { return "quant-" + std::to_string(block) + ".bin"; }

// The packed codes of a quantized layer, to a file or a message.
template <typename Writer>
void write_quant(Writer& w, const QuantResult& q) {
    w.i64(q.rows);
    w.i64(q.cols);
    w.i64(q.groups);
    w.i64(q.bits);
    w.vec(q.row_bits);
    w.vec(q.codes);
    w.vec(q.scales);
    w.vec(q.zeros);
    w.vec(q.g_idx);
    w.vec(q.perm);
}

template <typename Reader>
QuantResult read_quant(Reader& r) {
    QuantResult q;
    q.rows = r.i64();
    q.cols = r.i64();
    q.groups = r.i64();
    q.bits = static_cast<int>(r.i64());
    q.row_bits = r.template vec<int>();
    q.codes = r.template vec<uint8_t>();
    q.scales = r.template vec<float>();
    q.zeros = r.template vec<float>();
    q.g_idx = r.template vec<int32_t>();
    q.perm = r.template vec<int32_t>();
    return q;
}

nlohmann::json optional_number(const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
std::optional<double> read_optional(const nlohmann::json& v) {
    if (v.is_null()) return std::nullopt;
    return v.get<double>();
}

nlohmann::json layer_to_json(const CompressedLayer& l) {
    nlohmann::json j{{"name", l.name},         {"rows", l.rows},
                     {"cols", l.cols},         {"sparsity", l.sparsity},
                     {"loss", optional_number(l.loss)}, {"rel_error", optional_number(l.rel_error)},
                     {"seconds", l.seconds},   {"quantized", l.quant.has_value()}};
    if (l.mixed) {
        const MixedStats& m = *l.mixed;
        j["mixed"] = {{"channels", m.channels},
                      {"weights", m.weights},
                      {"grids", m.grids},
                      {"histogram", m.histogram},
                      {"payload_bits", m.payload_bits},
                      {"overhead_bits", m.overhead_bits},
                      {"has_importance", m.has_importance},
                      {"importance", {m.importance_min, m.importance_max, m.importance_mean}}};
    }
    return j;
}

CompressedLayer layer_from_json(const nlohmann::json& j, const Recipe& recipe, const RowBudget* budget) {
    CompressedLayer l;
    l.name = j.at("name").get<std::string>();
    l.plan = layer_plan(recipe, l.name, budget);
    l.rows = j.at("rows").get<int64_t>();
    l.cols = j.at("cols").get<int64_t>();
    l.sparsity = j.at("sparsity").get<double>();
    l.loss = read_optional(j.at("loss"));
    l.rel_error = read_optional(j.at("rel_error"));
    l.seconds = j.at("seconds").get<double>();
    if (j.at("quantized").get<bool>()) l.quant.emplace();  // codes: load_block_quant
    if (j.contains("mixed")) {
        const auto& m = j["mixed"];
        MixedStats s;
        s.channels = m.at("channels").get<int64_t>();
        s.weights = m.at("weights").get<int64_t>();
        s.grids = m.at("grids").get<int64_t>();
        s.histogram = m.at("histogram").get<std::array<int64_t, 9>>();
        s.payload_bits = m.at("payload_bits").get<double>();
        s.overhead_bits = m.at("overhead_bits").get<double>();
        s.has_importance = m.at("has_importance").get<bool>();
        const auto imp = m.at("importance").get<std::array<double, 3>>();
        s.importance_min = imp[0];
        s.importance_max = imp[1];
        s.importance_mean = imp[2];
        l.mixed = s;
    }
    return l;
}

}  // namespace

std::string hash_key(const std::string& text) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

void save_run_state(const std::string& dir, const RunState& state, const ActivationStore& states) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail(SURGEON_ERR_IO, "cannot create '" + dir + "': " + ec.message());
    {
        AtomicWriter w(path_in(dir, states_name(state.blocks_done)));
        w.i64(kStatesMagic);
        w.i64(static_cast<int64_t>(states.size()));
        for (size_t i = 0; i < states.size(); ++i) {
            const Matrix m = states.read(i);
            w.i64(m.rows);
            w.i64(m.cols);
            w.bytes(m.data.data(), m.data.size() * sizeof(float));
        }
        w.commit();
    }
    nlohmann::json layers = nlohmann::json::array();
    for (const CompressedLayer& l : state.report.layers) layers.push_back(layer_to_json(l));
    nlohmann::json blocks = nlohmann::json::array();
    for (const BlockRecord& b : state.report.blocks)
        blocks.push_back({{"block", b.block}, {"seconds", b.seconds}, {"peak_rss_bytes", b.peak_rss_bytes}});
    const nlohmann::json j{{"key", state.key},
                           {"blocks_done", state.blocks_done},
                           {"calibration_sequences", state.report.calibration_sequences},
                           {"calibration_tokens", state.report.calibration_tokens},
                           {"layers", layers},
                           {"blocks", blocks}};
    const std::string text = j.dump(1) + "\n";
    AtomicWriter w(path_in(dir, "state.json"));
    w.bytes(text.data(), text.size());
    w.commit();
    if (state.blocks_done > 0) fs::remove(path_in(dir, states_name(state.blocks_done - 1)), ec);
}

bool load_run_state(const std::string& dir, const Recipe& recipe, const RowBudget* row_budget, RunState* state) {
    const std::string path = path_in(dir, "state.json");
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return false;
    std::ifstream in(path);
    try {
        const nlohmann::json j = nlohmann::json::parse(in);
        RunState s;
        s.key = j.at("key").get<std::string>();
        s.blocks_done = j.at("blocks_done").get<int64_t>();
        s.report.calibration_sequences = j.at("calibration_sequences").get<int64_t>();
        s.report.calibration_tokens = j.at("calibration_tokens").get<int64_t>();
        for (const auto& l : j.at("layers")) s.report.layers.push_back(layer_from_json(l, recipe, row_budget));
        for (const auto& b : j.at("blocks"))
            s.report.blocks.push_back({b.at("block").get<int64_t>(), b.at("seconds").get<double>(),
                                       b.at("peak_rss_bytes").get<uint64_t>()});
        *state = std::move(s);
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_IO, path + ": malformed run state: " + e.what());
    }
    return true;
}

void load_run_states(const std::string& dir, int64_t blocks_done, ActivationStore& states) {
    const std::string path = path_in(dir, states_name(blocks_done));
    Reader r(path);
    if (r.i64() != kStatesMagic) fail(SURGEON_ERR_IO, "'" + path + "' is not a run state");
    const int64_t n = r.i64();
    if (n != static_cast<int64_t>(states.size()))
        fail(SURGEON_ERR_IO, "'" + path + "' holds " + std::to_string(n) + " sequences, the run has " +
                                 std::to_string(states.size()));
    for (size_t i = 0; i < states.size(); ++i) {
        const int64_t rows = r.i64(), cols = r.i64();
        if (rows < 0 || cols < 0 || rows > (int64_t{1} << 32) || cols > (int64_t{1} << 32))
            fail(SURGEON_ERR_IO, "'" + path + "' is corrupt");
        Matrix m(rows, cols);
        r.bytes(m.data.data(), m.data.size() * sizeof(float));
        states.put(i, std::move(m));
    }
}

void save_block_quant(const std::string& dir, int64_t block, const std::vector<const CompressedLayer*>& layers) {
    AtomicWriter w(path_in(dir, quant_name(block)));
    w.i64(static_cast<int64_t>(layers.size()));
    for (const CompressedLayer* l : layers) write_quant(w, *l->quant);
    w.commit();
}

void load_block_quant(const std::string& dir, int64_t block, std::vector<CompressedLayer*>& layers) {
    const std::string path = path_in(dir, quant_name(block));
    Reader r(path);
    if (r.i64() != static_cast<int64_t>(layers.size()))
        fail(SURGEON_ERR_IO, "'" + path + "' does not hold the quantized layers of block " + std::to_string(block));
    for (CompressedLayer* l : layers) l->quant = read_quant(r);
}

void encode_layer(ByteWriter& w, const CompressedLayer& layer) {
    w.text(layer_to_json(layer).dump());
    if (layer.quant) write_quant(w, *layer.quant);
}

CompressedLayer decode_layer(ByteReader& r, const Recipe& recipe, const RowBudget* row_budget) {
    CompressedLayer l;
    try {
        l = layer_from_json(nlohmann::json::parse(r.text()), recipe, row_budget);
    } catch (const nlohmann::json::exception& e) {
        fail(SURGEON_ERR_INTERNAL, std::string("a compressed layer from another rank is malformed: ") + e.what());
    }
    if (l.quant) l.quant = read_quant(r);
    return l;
}

}  // namespace surgeon::model
