// C API of surgeon_experimental.h: model-level structured pruning.
#define SURGEON_EXPERIMENTAL_API
#include "surgeon/surgeon_experimental.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "capi/guard.hpp"
#include "capi/model_handle.hpp"
#include "capi/prunenet_handle.hpp"
#include "compress/model_prune.hpp"

struct surgeon_structured_options {
    surgeon::structured::PruneOptions opt;
};

using namespace surgeon;
using namespace surgeon::capi;

namespace {

structured::Method method_of(int method) {
    switch (method) {
        case SURGEON_FFN_L2: return structured::Method::l2;
        case SURGEON_FFN_RANDOM: return structured::Method::random;
        case SURGEON_FFN_PRUNENET: return structured::Method::prunenet;
    }
    fail(SURGEON_ERR_INVALID_ARGUMENT, "unknown method " + std::to_string(method));
}

// A fraction in [0, 1) into one field of the options.
void set_fraction(surgeon_structured_options* opts, double structured::PruneOptions::*field, double value,
                  const char* what) {
    auto& o = deref(opts, "opts").opt;
    require_arg(value >= 0.0 && value < 1.0, std::string(what) + " must be in [0, 1), got " + std::to_string(value));
    o.*field = value;
}

nlohmann::ordered_json report_json(const structured::PruneOptions& o, const structured::PruneReport& r) {
    nlohmann::ordered_json j;
    j["method"] = structured::method_name(o.method);
    j["ratio"] = o.ratio;
    j["head_ratio"] = o.head_ratio;
    j["seed"] = o.seed;
    j["params_before"] = r.params_before;
    j["params_after"] = r.params_after;
    j["layer_ratios"] = r.layer_ratios;
    j["ffn_sizes"] = r.ffn_sizes;
    j["kv_groups_removed"] = r.heads_silenced;
    if (o.method == structured::Method::prunenet) j["policy"] = o.policy ? "given" : "trained";
    j["train_seconds"] = r.train_seconds;
    j["prune_seconds"] = r.prune_seconds;
    return j;
}

}  // namespace

extern "C" {

SURGEON_DEFAULT_HANDLE(surgeon_structured_options)


surgeon_status surgeon_structured_options_set_ratio(surgeon_structured_options* opts, double ratio) {
    SURGEON_GUARD({ set_fraction(opts, &structured::PruneOptions::ratio, ratio, "ratio"); });
}

surgeon_status surgeon_structured_options_set_method(surgeon_structured_options* opts, surgeon_ffn_method method) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts").opt;
        o.method = method_of(enum_value(method));
    });
}

surgeon_status surgeon_structured_options_set_policy(surgeon_structured_options* opts,
                                                     const surgeon_prunenet* policy) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts").opt;
        if (policy)
            o.policy = policy->policy;
        else
            o.policy.reset();
    });
}

surgeon_status surgeon_structured_options_set_training(surgeon_structured_options* opts,
                                                       const surgeon_prunenet_options* training) {
    SURGEON_GUARD({
        auto& o = deref(opts, "opts").opt;
        o.train = train_options(training);
    });
}

surgeon_status surgeon_structured_options_set_spectral_ratios(surgeon_structured_options* opts, int enable) {
    SURGEON_GUARD({ deref(opts, "opts").opt.spectral_layer_ratios = enable != 0; });
}

surgeon_status surgeon_structured_options_set_head_ratio(surgeon_structured_options* opts, double head_ratio) {
    SURGEON_GUARD({ set_fraction(opts, &structured::PruneOptions::head_ratio, head_ratio, "head_ratio"); });
}

surgeon_status surgeon_structured_options_set_seed(surgeon_structured_options* opts, uint64_t seed) {
    SURGEON_GUARD({ deref(opts, "opts").opt.seed = seed; });
}

surgeon_status surgeon_structured_options_get_ratio(const surgeon_structured_options* opts, double* out) {
    SURGEON_GUARD({ get_into(opts, "opts", out, [](const surgeon_structured_options& o) { return o.opt.ratio; }); });
}

surgeon_status surgeon_structured_options_get_head_ratio(const surgeon_structured_options* opts, double* out) {
    SURGEON_GUARD({
        get_into(opts, "opts", out, [](const surgeon_structured_options& o) { return o.opt.head_ratio; });
    });
}

surgeon_status surgeon_model_prune_structured(const surgeon_context* ctx, surgeon_model* model,
                                              const surgeon_structured_options* opts) {
    SURGEON_GUARD({
        surgeon_model& h = deref(model, "model");
        const surgeon_structured_options defaults;
        const structured::PruneOptions& o = (opts ? *opts : defaults).opt;
        if (o.policy)
            require_shape(o.policy->dim() == h.model.config.dim,
                          "the policy is for hidden size " + std::to_string(o.policy->dim()) + ", the model has " +
                              std::to_string(h.model.config.dim));
        const ContextPtr c = context_of(ctx);
        model::Model work = h.model;  // the handle changes only when everything succeeded
        const structured::PruneReport r = structured::prune_model(work, o, *c);
        std::string text = report_json(o, r).dump();
        h.model = std::move(work);
        h.quantized.clear();
        h.plans.clear();
        h.report = std::move(text);
    });
}

}  // extern "C"
