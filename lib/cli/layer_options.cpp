#include "cli/layer_options.hpp"

#include <cmath>
#include <stdexcept>

#include "cli/args.hpp"
#include "core/names.hpp"

namespace surgeon::cli {

const char* const kLayerUsage =
    "usage: surgeon layer --weight W.npy (--inputs X.npy | --hessian H.npy [--samples N])\n"
    "         --method sparsegpt|gptq|wanda|magnitude|rtn [--sparsity S | --nm N:M]\n"
    "         [--bits B [--group G] [--asym] [--mse] [--act-order] [--static-groups]]\n"
    "         [--blocksize 128] [--damp 0.01] [--mask-scope block|row]\n"
    "         --out OUT.npy [--mask-out M.npy] [--codes-out PREFIX] [--threads T] [--fp16-out]\n"
    "         [--overwrite]\n"
    "\n"
    "Outputs are written under .partial names and renamed when all are complete; an existing\n"
    "output is refused unless --overwrite is given.\n";

const char* method_name(LayerMethod method) {
    switch (method) {
        case LayerMethod::sparsegpt: return "sparsegpt";
        case LayerMethod::gptq: return "gptq";
        case LayerMethod::wanda: return "wanda";
        case LayerMethod::magnitude: return "magnitude";
        case LayerMethod::rtn: return "rtn";
    }
    return "?";
}

namespace {

void check(bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
}

LayerMethod parse_method(const std::string& text) {
    for (LayerMethod m : {LayerMethod::sparsegpt, LayerMethod::gptq, LayerMethod::wanda,
                          LayerMethod::magnitude, LayerMethod::rtn})
        if (text == method_name(m)) return m;
    throw std::invalid_argument("unknown --method '" + text +
                                "' (sparsegpt, gptq, wanda, magnitude or rtn)");
}

// "N:M" with 0 < N < M <= 256 (the limit of the n:m selector).
void parse_nm(const std::string& text, int& n, int& m) {
    const std::string bad = "--nm expects N:M with 0 < N < M <= 256 (e.g. 2:4), got '" + text + "'";
    const auto nm = surgeon::parse_nm(text);
    check(nm.has_value(), bad);
    n = nm->first;
    m = nm->second;
}

}  // namespace

LayerOptions parse_layer_options(const std::vector<std::string>& argv) {
    const Args a(argv,
                 {"--weight", "--inputs", "--hessian", "--samples", "--method", "--sparsity",
                  "--nm", "--bits", "--group", "--blocksize", "--damp", "--mask-scope", "--out",
                  "--mask-out", "--codes-out", "--threads"},
                 {"--asym", "--mse", "--act-order", "--static-groups", "--fp16-out", "--overwrite"});
    LayerOptions o;
    o.weight_path = a.require("--weight");
    o.out_path = a.require("--out");
    check(a.has("--inputs") != a.has("--hessian"),
          "give exactly one of --inputs X.npy and --hessian H.npy");
    o.inputs_path = a.get("--inputs");
    o.hessian_path = a.get("--hessian");
    check(!a.has("--samples") || a.has("--hessian"), "--samples applies only to --hessian");
    o.samples = a.integer("--samples", 1);
    check(o.samples >= 1, "--samples must be >= 1, got " + std::to_string(o.samples));

    o.method = parse_method(a.require("--method"));
    const std::string name = method_name(o.method);
    auto only_for = [&](const char* flag, bool allowed, const char* which) {
        check(!a.has(flag) || allowed,
              std::string(flag) + " does not apply to --method " + name + " (" + which + ")");
    };

    only_for("--sparsity", o.prunes(), "pruning methods only");
    only_for("--nm", o.prunes(), "pruning methods only");
    only_for("--mask-out", o.prunes(), "pruning methods only");
    only_for("--mask-scope", o.method == LayerMethod::sparsegpt, "sparsegpt only");
    if (o.prunes()) {
        check(a.has("--sparsity") != a.has("--nm"),
              "--method " + name + " needs one of --sparsity S and --nm N:M");
        if (a.has("--nm")) {
            parse_nm(a.get("--nm"), o.n, o.m);
        } else {
            o.sparsity = a.number("--sparsity", 0.0);
            check(std::isfinite(o.sparsity) && o.sparsity >= 0.0 && o.sparsity < 1.0,
                  "--sparsity must be in [0, 1), got " + a.get("--sparsity"));
        }
    }
    if (a.has("--mask-scope")) {
        const std::string scope = a.get("--mask-scope");
        check(scope == "block" || scope == "row",
              "--mask-scope expects block or row, got '" + scope + "'");
        check(o.n == 0, "--mask-scope applies to --sparsity, not to --nm");
        o.scope = scope == "row" ? SURGEON_MASK_SCOPE_ROW : SURGEON_MASK_SCOPE_BLOCK;
    }

    const bool can_quantize = o.method != LayerMethod::wanda && o.method != LayerMethod::magnitude;
    only_for("--bits", can_quantize, "sparsegpt, gptq and rtn only");
    check(a.has("--bits") || !can_quantize || o.method == LayerMethod::sparsegpt,
          "--method " + name + " needs --bits B");
    o.quantize = a.has("--bits");
    for (const char* flag : {"--group", "--asym", "--mse", "--act-order", "--static-groups", "--codes-out"})
        check(!a.has(flag) || o.quantize, std::string(flag) + " needs --bits B");
    only_for("--act-order", o.method == LayerMethod::gptq, "gptq only");
    only_for("--static-groups", o.uses_solver(), "sparsegpt and gptq only");
    if (o.quantize) {
        o.quant.bits = static_cast<int>(a.integer("--bits", 4, 2, 8));
        o.quant.group_size = a.integer("--group", 0);
        check(o.quant.group_size >= 0, "--group must be >= 0 (0: one grid per row), got " + a.get("--group"));
        o.quant.symmetric = !a.has("--asym");
        o.quant.mse = a.has("--mse");
        o.quant.act_order = a.has("--act-order");
        o.quant.static_groups = a.has("--static-groups");
        check(!o.quant.static_groups || o.quant.group_size > 0, "--static-groups needs --group G");
    }

    only_for("--blocksize", o.uses_solver(), "sparsegpt and gptq only");
    only_for("--damp", o.uses_solver(), "sparsegpt and gptq only");
    o.blocksize = a.integer("--blocksize", 128);
    check(o.blocksize >= 1, "--blocksize must be >= 1, got " + std::to_string(o.blocksize));
    // An n:m group must not straddle two blocks: each block picks its own masks.
    check(o.n == 0 || o.method != LayerMethod::sparsegpt || o.blocksize % o.m == 0,
          "--blocksize " + std::to_string(o.blocksize) + " must be a multiple of M = " +
              std::to_string(o.m));
    o.damp = a.number("--damp", 0.01);
    check(std::isfinite(o.damp) && o.damp >= 0.0, "--damp must be >= 0, got " + a.get("--damp"));

    o.threads = a.threads();
    check(!a.has("--threads") || o.threads >= 1, "--threads must be >= 1, got " + a.get("--threads"));
    o.mask_path = a.get("--mask-out");
    o.codes_prefix = a.get("--codes-out");
    o.fp16_out = a.has("--fp16-out");
    o.overwrite = a.has("--overwrite");
    return o;
}

nlohmann::ordered_json LayerOptions::to_json() const {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    if (prunes()) {
        if (n > 0)
            j["nm"] = std::to_string(n) + ":" + std::to_string(m);
        else
            j["sparsity"] = sparsity;
    }
    if (method == LayerMethod::sparsegpt && n == 0)
        j["mask_scope"] = scope == SURGEON_MASK_SCOPE_ROW ? "row" : "block";
    if (quantize) {
        j["bits"] = quant.bits;
        j["group"] = quant.group_size;
        j["asym"] = !quant.symmetric;
        j["mse"] = quant.mse;
        if (method == LayerMethod::gptq) j["act_order"] = quant.act_order;
        if (uses_solver()) j["static_groups"] = quant.static_groups;
    }
    if (uses_solver()) {
        j["blocksize"] = blocksize;
        j["damp"] = damp;
    }
    return j;
}

}  // namespace surgeon::cli
