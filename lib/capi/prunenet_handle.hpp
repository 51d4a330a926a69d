// The surgeon_prunenet handle and the translation of surgeon_prunenet_options, shared by
// the structured-pruning entry points of surgeon.h and surgeon_experimental.h.
#pragma once

#include "capi/handles.hpp"
#include "structured/prunenet.hpp"

struct surgeon_prunenet {
    surgeon::structured::Policy policy;
};

namespace surgeon::capi {

// NULL: the defaults. Otherwise the version is checked and every field validated.
inline structured::TrainOptions train_options(const surgeon_prunenet_options* o) {
    structured::TrainOptions t;
    if (!o) return t;
    require_version(o, SURGEON_PRUNENET_OPTIONS_VERSION, "options");
    require_arg(o->ratio >= 0.0 && o->ratio < 1.0, "options.ratio must be in [0, 1)");
    require_arg(o->steps >= 1 && o->samples >= 2 && o->features >= 1 && o->learning_rate > 0.0,
                "options need steps >= 1, samples >= 2, features >= 1, learning_rate > 0");
    t.ratio = o->ratio;
    t.steps = o->steps;
    t.samples = o->samples;
    t.learning_rate = o->learning_rate;
    t.features = o->features;
    t.seed = o->seed;
    return t;
}

}  // namespace surgeon::capi
