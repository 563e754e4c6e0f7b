#pragma once
// GEMMs on cuBLASLt. Backend::matmul runs through here for f64, f32, f16 and bf16; the
// general entry point also takes fp8 operands with their scale pointers, and bias / GELU+bias
// epilogues, for the precision kernels. Descriptors, layouts and the heuristic's algorithm
// are cached per GemmKey (core/cuda/gemm_key.h), per device.
#include <mantissa/core/cuda/gemm_key.h>
#include <mantissa/core/tensor.h>

namespace mantissa::cuda {

// Whether f32 GEMMs may run as TF32 on tensor cores (10-bit mantissa inputs, f32
// accumulation). Off by default, as in PyTorch since 1.12.
void set_allow_tf32(bool allow);
bool allow_tf32();

// allow_tf32 set for a scope and restored after it, also when the scope throws.
class AllowTf32Guard {
 public:
  explicit AllowTf32Guard(bool allow) : previous_(allow_tf32()) { set_allow_tf32(allow); }
  ~AllowTf32Guard() { set_allow_tf32(previous_); }
  AllowTf32Guard(const AllowTf32Guard&) = delete;
  AllowTf32Guard& operator=(const AllowTf32Guard&) = delete;

 private:
  bool previous_;
};

struct GemmOperands {
  const Tensor* a;                  // (B, m, k) view, as raw::matmul hands it
  const Tensor* b;                  // (B, k, n) view
  Tensor* out;                      // (B, m, n) contiguous
  bool accumulate = false;          // out += a · b
  const Tensor* bias = nullptr;     // (n): added to every row (with epilogue bias or gelu_bias)
  Epilogue epilogue = Epilogue::none;
  // fp8 operands: each one's f32 scale inverse (one element on the device). No amax of the
  // output: cuBLASLt computes one only for fp8 outputs (a bf16 one is refused on an H200), and
  // precision's fp8 GEMM writes f32 and takes the amax itself.
  const Tensor* a_scale_inv = nullptr;
  const Tensor* b_scale_inv = nullptr;
};

// out (+)= a · b (+ bias, GELU) on out's device and current stream. a and b share a dtype and
// out has it too, or is f32 for bf16 and f16 inputs (products exact, f32 accumulation). fp8 needs compute
// capability 8.9 or newer, a with contiguous rows and b a transposed view of a contiguous
// (n, k) matrix (cuBLASLt's "TN" rule), and at most one E5M2 operand; errors say which rule
// failed.
void gemm(const GemmOperands& operands);

}  // namespace mantissa::cuda
