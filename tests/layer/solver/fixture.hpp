// Loads a layer fixture (W, H, reference.json) from tests/fixtures.
#pragma once

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/matrix.hpp"
#include "core/npy.hpp"
#include "layer/hessian/hessian.hpp"

namespace surgeon::testing {

struct Fixture {
    std::string name;
    Matrix w;
    Matrix h;
    nlohmann::json reference;
    std::unique_ptr<Hessian> hessian;
};

inline Matrix to_matrix(const NpyArray& a) { return Matrix(a.dim(0), a.dim(1), a.data); }

inline Fixture load_fixture(const std::string& name) {
    const std::string dir = std::string(SURGEON_FIXTURES_DIR) + "/" + name;
    Fixture f;
    f.name = name;
    f.w = to_matrix(read_npy(dir + "/W.npy"));
    f.h = to_matrix(read_npy(dir + "/H.npy"));
    std::ifstream in(dir + "/reference.json");
    f.reference = nlohmann::json::parse(in);
    f.hessian = std::make_unique<Hessian>(default_context(), f.h.cols);
    f.hessian->assign_matrix(f.h.data.data(), f.h.cols, 1);
    return f;
}

inline const char* const kFixtureNames[] = {"synth_256x512_s1", "stories260K_block0_w1",
                                            "stories260K_block2_w2", "stories260K_block2_wq"};

}  // namespace surgeon::testing
