#include <mantissa/core/backend.h>

#include <mantissa/core/cpu/cpu_backend.h>
#ifdef MANTISSA_WITH_CUDA
#include <mantissa/core/cuda/cuda_backend.h>
#endif
#include <mantissa/core/error.h>
#include <mantissa/core/profile.h>
#include <mantissa/core/profiling_backend.h>

namespace mantissa {

// The names are the enumerators' own, from core/op_kinds.h's lists.
#define MANTISSA_OP_NAME(name) #name,
const char* unary_op_name(UnaryOp op) {
  static const char* const names[] = {MANTISSA_FOR_EACH_UNARY_OP(MANTISSA_OP_NAME)};
  return names[static_cast<int>(op)];
}

const char* binary_op_name(BinaryOp op) {
  static const char* const names[] = {MANTISSA_FOR_EACH_BINARY_OP(MANTISSA_OP_NAME)};
  return names[static_cast<int>(op)];
}

const char* reduce_op_name(ReduceOp op) {
  static const char* const names[] = {MANTISSA_FOR_EACH_REDUCE_OP(MANTISSA_OP_NAME)};
  return names[static_cast<int>(op)];
}
#undef MANTISSA_OP_NAME

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}

namespace {

Backend& device_backend(Device device) {
  if (device.is_cpu()) return cpu::cpu_backend();
#ifdef MANTISSA_WITH_CUDA
  return cuda::cuda_backend();
#else
  throw Error(fmt::format("device: no backend for {} in this build (built without CUDA)", device.str()));
#endif
}

}  // namespace

Backend& backend_for(Device device) {
  Backend& backend = device_backend(device);
  return profile::recording() ? profile::profiling_backend(backend) : backend;
}

}  // namespace mantissa
