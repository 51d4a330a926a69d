// A PruneNet policy file (JSON). A policy that loads has exactly the parameters its
// dimensions call for (prunenet.hpp: A features × 2·dim, v features, c kNormFeatures, b),
// and what save() writes of it loads again.
#include "structured/prunenet.hpp"
#include "support.hpp"

using namespace surgeon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("policy.json", data, size);
    fuzz::expect_library_errors([&] {
        const structured::Policy policy = structured::Policy::load(path);
        const __int128 dim = policy.dim(), features = policy.features();
        fuzz::require_invariant(dim >= 1 && features >= 1 &&
                                    static_cast<__int128>(policy.params.size()) ==
                                        features * 2 * dim + features + structured::kNormFeatures + 1,
                                "parameter count against dim and features");
        const std::string saved = fuzz::work_dir() + "/saved.json";
        policy.save(saved);
        try {
            (void)structured::Policy::load(saved);
        } catch (const Error& e) {
            fuzz::require_invariant(false, (std::string("the saved policy does not load: ") + e.what()).c_str());
        }
    });
    return 0;
}
