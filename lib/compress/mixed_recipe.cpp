#include "compress/mixed_recipe.hpp"

#include "core/error.hpp"
#include "core/names.hpp"

namespace surgeon {
namespace {

constexpr EnumName<ErrorModel> kErrorModels[] = {{ErrorModel::rounding, "rounding"}, {ErrorModel::solver, "solver"}};
constexpr EnumName<RowSensitivity> kSensitivities[] = {
    {RowSensitivity::layer, "layer"}, {RowSensitivity::downstream, "downstream"}, {RowSensitivity::fisher, "fisher"}};
constexpr EnumName<BudgetScope> kScopes[] = {{BudgetScope::layer, "layer"}, {BudgetScope::model, "model"}};

}  // namespace

ErrorModel parse_error_model(const std::string& name) { return parse_enum(kErrorModels, name, "error model"); }
const char* error_model_name(ErrorModel m) { return enum_name(kErrorModels, m); }

RowSensitivity parse_row_sensitivity(const std::string& name) {
    return parse_enum(kSensitivities, name, "row sensitivity");
}
const char* row_sensitivity_name(RowSensitivity s) { return enum_name(kSensitivities, s); }

BudgetScope parse_budget_scope(const std::string& name) { return parse_enum(kScopes, name, "budget scope"); }
const char* budget_scope_name(BudgetScope s) { return enum_name(kScopes, s); }

void MixedRecipe::validate() const {
    MixedPlan::validate();
    require_arg(scope == BudgetScope::layer ||
                    (allocator == Allocator::error && sensitivity == RowSensitivity::fisher &&
                     normalize == ErrorNormalization::none),
                "a model-wide budget (scope \"model\") needs the error allocator with Fisher sensitivity "
                "and unnormalized errors (its costs are nats, compared across layers)");
}

}  // namespace surgeon
