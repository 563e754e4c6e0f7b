#include <mantissa/autograd/op_table.h>

#include <deque>
#include <mutex>
#include <string>

#include <mantissa/core/error.h>

namespace mantissa {

namespace {

constexpr bool own = true, composite = false;
constexpr bool fp8 = true, no_fp8 = false;
using enum CastPolicy;

#define MANTISSA_OP_ROW(name, inputs, backward, mantissa_policy, torch_cpu_policy, torch_cuda_policy, fp8_flag, why) \
  OpInfo{#name, inputs, backward, {mantissa_policy, torch_cpu_policy, torch_cuda_policy}, fp8_flag, why, Op::name},
const OpInfo kBuiltinOps[] = {MANTISSA_FOR_EACH_OP(MANTISSA_OP_ROW)};
#undef MANTISSA_OP_ROW

// User-defined rows, with the names they point into; a deque keeps both where they are.
struct UserOps {
  std::mutex mutex;
  std::deque<std::string> names;
  std::deque<OpInfo> rows;
};
UserOps& user_ops() {
  static UserOps ops;
  return ops;
}

}  // namespace

const OpInfo& op_info(Op op) { return kBuiltinOps[static_cast<size_t>(op)]; }

std::span<const OpInfo> builtin_ops() { return kBuiltinOps; }

namespace {
const OpInfo* find_locked(std::string_view name, const std::deque<OpInfo>& user_rows) {
  for (const OpInfo& row : kBuiltinOps)
    if (name == row.name) return &row;
  for (const OpInfo& row : user_rows)
    if (name == row.name) return &row;
  return nullptr;
}
}  // namespace

const OpInfo* find_op(std::string_view name) {
  UserOps& user = user_ops();
  std::lock_guard lock(user.mutex);
  return find_locked(name, user.rows);
}

const OpInfo& register_user_op(std::string_view name, int inputs, CastPolicy policy) {
  MANTISSA_CHECK(!name.empty(), "register_user_op", "an op needs a name");
  UserOps& user = user_ops();
  std::lock_guard lock(user.mutex);
  MANTISSA_CHECK(find_locked(name, user.rows) == nullptr, "register_user_op",
                 "an op named '{}' is already in the op table; give the Function a name of its own", name);
  const std::string& stored = user.names.emplace_back(name);
  return user.rows.emplace_back(
      OpInfo{stored.c_str(), inputs, true, {policy, policy, policy}, false, "a user-defined op", std::nullopt});
}

}  // namespace mantissa
