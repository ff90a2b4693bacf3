// Policies by name, for the C ABI and the CLI.
#include <array>

#include "policy/policies.h"
#include "policy/policy.h"

namespace cab {

namespace {

const std::array<const Policy *, 9> &all_policies() {
    static const std::array<const Policy *, 9> policies = {
        &full_policy(),   &random_policy(), &window_policy(),  &h2o_policy(),    &tova_policy(),
        &snapkv_policy(), &cab_policy(),    &cab_frc_policy(), &chunkkv_policy()};
    return policies;
}

}  // namespace

const Policy *find_policy(std::string_view name) {
    for (const Policy *p : all_policies())
        if (p->name() == name) return p;
    return nullptr;
}

const std::vector<std::string_view> &policy_names() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> out;
        for (const Policy *p : all_policies()) out.push_back(p->name());
        return out;
    }();
    return names;
}

}  // namespace cab
