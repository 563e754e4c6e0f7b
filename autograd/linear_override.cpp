#include <mantissa/autograd/linear_override.h>

#include <utility>

namespace mantissa {

namespace {
thread_local LinearOverride active;
}  // namespace

const LinearOverride* linear_override() { return active ? &active : nullptr; }

LinearOverrideGuard::LinearOverrideGuard(LinearOverride override)
    : previous_(std::exchange(active, std::move(override))) {}

LinearOverrideGuard::~LinearOverrideGuard() { active = std::move(previous_); }

}  // namespace mantissa
