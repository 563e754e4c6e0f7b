#include <mantissa/distributed/grad_comm.h>

#include <functional>
#include <limits>

#include <mantissa/core/error.h>
#include <mantissa/core/ops.h>

namespace mantissa::distributed {
namespace {

constexpr std::string_view kAllReduceGradients = "all_reduce_gradients";

struct WireName {
  DType dtype;
  std::string_view name;
};
constexpr WireName kWireNames[] = {{DType::f32, "f32"},
                                   {DType::bf16, "bf16"},
                                   {DType::f16, "f16"},
                                   {DType::f8_e4m3, "fp8-e4m3"},
                                   {DType::f8_e5m2, "fp8-e5m2"}};

Tensor f32_scalar(double value, Device device) {
  return raw::full({1}, value, TensorOptions{}.with_dtype(DType::f32).with_device(device));
}

// max |x| as a one-element f32 tensor (NaN when x holds one).
Tensor abs_max(const Tensor& x) {
  return raw::reshape(raw::reduce(mantissa::ReduceOp::amax, raw::unary(UnaryOp::abs, x)), {1});
}

// target / amax where amax is positive and finite, else 1; computed where amax lives, so a
// GPU never waits for the host.
Tensor scale_for(const Tensor& amax, double target) {
  Tensor usable = raw::binary(BinaryOp::logical_and, raw::binary(BinaryOp::gt, amax, 0.0),
                              raw::binary(BinaryOp::lt, amax, std::numeric_limits<double>::infinity()));
  Tensor quotient = raw::binary(BinaryOp::div, f32_scalar(target, amax.device()), amax);
  return raw::where(usable, quotient, f32_scalar(1.0, amax.device()));
}

// What the wire carries for x: a plain cast, or for fp8 x·scale without saturation (an
// inf/NaN gradient arrives as NaN instead of as the largest finite value).
Tensor compress(const Tensor& x, DType wire, const Tensor& scale) {
  return is_fp8(wire) ? raw::cast_scaled(x, wire, scale, nullptr, /*saturate=*/false) : raw::cast(x, wire);
}

Tensor decompress(const Tensor& q, const Tensor& scale) {
  Tensor wide = raw::cast(q, DType::f32);
  return scale.defined() ? raw::binary(BinaryOp::div, wide, scale) : wide;
}

// error feedback: residual = sent - what the receivers will see of it (computed only when
// error feedback is on). Where that is not finite (an inf or NaN gradient, whose step the loss
// scaler skips) the residual is 0: a NaN kept would poison every later step.
void keep_residual(const Tensor& residual, const Tensor& sent, const std::function<Tensor()>& seen) {
  if (!residual.defined()) return;
  Tensor out = raw::reshape(residual, {residual.numel()});
  const Tensor lost = raw::binary(BinaryOp::sub, sent, seen());
  const Tensor finite = raw::binary(BinaryOp::eq, raw::binary(BinaryOp::sub, lost, lost), 0.0);  // x - x = 0
  raw::copy_(out, raw::where(finite, lost, raw::zeros({}, TensorOptions{}.with_device(lost.device()))));
}

// max over the ranks of each rank's max |x|. MPI's built-in max may drop a NaN depending on the
// order it combines the ranks; as +inf it survives, so every rank gets the same scale (1).
Tensor global_amax(ProcessGroup& group, const Tensor& x) {
  Tensor amax = abs_max(x);
  amax = raw::where(raw::binary(BinaryOp::eq, amax, amax), amax,
                    f32_scalar(std::numeric_limits<double>::infinity(), amax.device()));
  group.all_reduce(amax, ReduceOp::max);
  return amax;
}

// Narrow blocks to their owners (all-to-all), summed there in f32: this rank's block of the
// reduction, rounded once in the wire format. x's length is a multiple of the world size.
Tensor reduce_block_in_f32(ProcessGroup& group, const Tensor& x, const GradComm& comm, ReduceOp op,
                           const Tensor& residual) {
  const int64_t world = group.size(), block = x.numel() / world;
  Tensor scale;
  if (is_fp8(comm.wire)) scale = scale_for(global_amax(group, x), fp8_max(comm.wire));  // one scale on every rank
  Tensor sent = compress(x, comm.wire, scale);
  keep_residual(residual, x, [&] { return decompress(sent, scale); });
  Tensor received = group.all_to_all(sent);  // block j: rank j's values of my block
  Tensor sums = raw::reduce(mantissa::ReduceOp::sum, raw::reshape(raw::cast(received, DType::f32), {world, block}), {0});
  if (scale.defined()) sums = raw::binary(BinaryOp::div, sums, scale);
  if (op == ReduceOp::avg) sums = raw::binary(BinaryOp::div, sums, static_cast<double>(world));
  return sums;
}

// The blocks summed in f32 (reduce_block_in_f32), the sums back narrow (all-gather): each
// element of the result rounds twice in the wire format, once per leg.
Tensor reduce_summing_in_f32(ProcessGroup& group, const Tensor& x, const GradComm& comm, ReduceOp op,
                             const Tensor& residual) {
  const int64_t world = group.size(), n = x.numel();
  const int64_t block = (n + world - 1) / world;
  // Padded to world equal blocks where n does not split (the residual too, copied back after).
  const bool pad = block * world != n;
  auto padded_copy = [&](const Tensor& t) {
    Tensor out = raw::zeros({block * world}, TensorOptions{}.with_dtype(DType::f32).with_device(x.device()));
    Tensor head = raw::narrow(out, 0, 0, n);
    raw::copy_(head, raw::reshape(t, {n}));
    return out;
  };
  const Tensor padded = pad ? padded_copy(x) : x;
  const Tensor padded_residual = pad && residual.defined() ? padded_copy(residual) : residual;
  const Tensor sums = reduce_block_in_f32(group, padded, comm, op, padded_residual);
  if (pad && residual.defined()) {
    Tensor out = raw::reshape(residual, {n});
    raw::copy_(out, raw::narrow(padded_residual, 0, 0, n));
  }
  Tensor result;
  if (is_fp8(comm.wire)) {
    // Each owner scales its own sums; the scales travel with them.
    Tensor block_scale = scale_for(abs_max(sums), fp8_max(comm.wire));
    Tensor gathered = group.all_gather(compress(sums, comm.wire, block_scale));  // [world, block]
    Tensor scales = group.all_gather(block_scale);                              // [world, 1]
    result = decompress(gathered, scales);
  } else {
    result = decompress(group.all_gather(raw::cast(sums, comm.wire)), Tensor());
  }
  return raw::narrow(raw::reshape(result, {world * block}), 0, 0, n);
}

// For the engine's own sum in the wire format (PyTorch's compression hooks): x cast, its share
// of the average taken first; fp8's shared scale leaves room for the sum of every rank.
struct EngineSumInput {
  Tensor sent, scale;
};

EngineSumInput compress_for_engine_sum(ProcessGroup& group, const Tensor& x, const GradComm& comm, ReduceOp op,
                                       const Tensor& residual) {
  const double share = op == ReduceOp::avg ? 1.0 / group.size() : 1.0;
  Tensor y = op == ReduceOp::avg ? raw::binary(BinaryOp::mul, x, share) : x;
  EngineSumInput in;
  if (is_fp8(comm.wire)) in.scale = scale_for(global_amax(group, y), fp8_max(comm.wire) / group.size());
  in.sent = compress(y, comm.wire, in.scale);
  keep_residual(residual, x, [&] { return raw::binary(BinaryOp::div, decompress(in.sent, in.scale), share); });
  return in;
}

Tensor reduce_summing_in_wire(ProcessGroup& group, const Tensor& x, const GradComm& comm, ReduceOp op,
                              const Tensor& residual) {
  EngineSumInput in = compress_for_engine_sum(group, x, comm, op, residual);
  group.all_reduce(in.sent, ReduceOp::sum);
  return decompress(in.sent, in.scale);
}

Tensor reduce_block_in_wire(ProcessGroup& group, const Tensor& x, const GradComm& comm, ReduceOp op,
                            const Tensor& residual) {
  const EngineSumInput in = compress_for_engine_sum(group, x, comm, op, residual);
  return decompress(group.reduce_scatter(in.sent, ReduceOp::sum), in.scale);
}

}  // namespace

std::string GradComm::name() const {
  std::string text;
  for (const WireName& w : kWireNames)
    if (w.dtype == wire) text = w.name;
  MANTISSA_CHECK(!text.empty(), "GradComm", "{} is not a wire format (f32, bf16, f16, fp8)", dtype_name(wire));
  if (!sum_in_f32) text += "-sum";
  if (error_feedback) text += "+ef";
  return text;
}

GradComm GradComm::parse(std::string_view name) {
  GradComm comm;
  std::string_view rest = name;
  if (rest.ends_with("+ef")) {
    comm.error_feedback = true;
    rest.remove_suffix(3);
  }
  if (rest.ends_with("-sum")) {
    comm.sum_in_f32 = false;
    rest.remove_suffix(4);
  }
  bool known = false;
  for (const WireName& w : kWireNames) {
    if (w.name == rest) {
      comm.wire = w.dtype;
      known = true;
    }
  }
  MANTISSA_CHECK(known && (comm.wire != DType::f32 || (comm.sum_in_f32 && !comm.error_feedback)), "GradComm",
                 "unknown gradient communication '{}': f32, bf16, f16, fp8-e4m3 or fp8-e5m2, with -sum for the "
                 "engine's low-precision sum and +ef for error feedback (not with f32)",
                 name);
  return comm;
}

int64_t GradComm::reduce_scatter_bytes(int64_t numel, int world) const {
  if (world <= 1) return 0;
  const int64_t block = (numel + world - 1) / world;
  int64_t bytes = (world - 1) * block * static_cast<int64_t>(dtype_size(wire));  // world-1 of world blocks
  if (is_fp8(wire)) bytes += 2 * 4;  // the amax all-reduce (one f32 element)
  return bytes;
}

int64_t GradComm::wire_bytes(int64_t numel, int world) const {
  if (world <= 1) return 0;
  // The reduce-scatter, then the all-gather of the sums, which sends as much again.
  int64_t bytes = reduce_scatter_bytes(numel, world) + (world - 1) * ((numel + world - 1) / world) *
                                                           static_cast<int64_t>(dtype_size(wire));
  if (is_fp8(wire) && sum_in_f32) bytes += (world - 1) * 4;  // the block scales
  return bytes;
}

namespace {

void check_gradients(std::string_view op_name, const Tensor& buffer, const GradComm& comm, ReduceOp op,
                     const Tensor& residual) {
  MANTISSA_CHECK(buffer.defined() && buffer.dtype() == DType::f32 && buffer.is_contiguous(), op_name,
                 "reduces a contiguous f32 buffer, got {}", buffer.defined() ? buffer.describe() : "undefined");
  MANTISSA_CHECK(op == ReduceOp::sum || op == ReduceOp::avg, op_name, "sums or averages gradients, got {}",
                 reduce_op_name(op));
  MANTISSA_CHECK(comm.error_feedback == residual.defined(), op_name,
                 "{}: the error-feedback residual must be given exactly when error feedback is on", comm.name());
  if (residual.defined()) {
    MANTISSA_CHECK(residual.dtype() == DType::f32 && residual.is_contiguous() && residual.sizes() == buffer.sizes() &&
                       residual.device() == buffer.device(),
                   op_name, "the residual must be a contiguous f32 tensor like the buffer {}, got {}",
                   buffer.describe(), residual.describe());
  }
}

// The buffer flattened, with the residual of the last compression added back.
Tensor with_residual(const Tensor& buffer, const Tensor& residual) {
  Tensor flat = raw::reshape(buffer, {buffer.numel()});
  return residual.defined() ? raw::binary(BinaryOp::add, flat, raw::reshape(residual, {residual.numel()})) : flat;
}

}  // namespace

void all_reduce_gradients(ProcessGroup& group, const Tensor& buffer, const GradComm& comm, ReduceOp op,
                          const Tensor& residual) {
  check_gradients(kAllReduceGradients, buffer, comm, op, residual);
  if (comm.wire == DType::f32) {
    group.all_reduce(buffer, op);
    return;
  }
  const Tensor x = with_residual(buffer, residual);
  Tensor reduced = comm.sum_in_f32 ? reduce_summing_in_f32(group, x, comm, op, residual)
                                   : reduce_summing_in_wire(group, x, comm, op, residual);
  Tensor flat = raw::reshape(buffer, {buffer.numel()});
  raw::copy_(flat, reduced);
}

Tensor reduce_scatter_gradients(ProcessGroup& group, const Tensor& buffer, const GradComm& comm, ReduceOp op,
                                const Tensor& residual) {
  constexpr std::string_view kName = "reduce_scatter_gradients";
  check_gradients(kName, buffer, comm, op, residual);
  MANTISSA_CHECK(buffer.numel() % group.size() == 0, kName, "{}: the buffer {} does not split into {} equal blocks",
                 group.describe(), buffer.describe(), group.size());
  if (comm.wire == DType::f32) return group.reduce_scatter(raw::reshape(buffer, {buffer.numel()}), op);
  const Tensor x = with_residual(buffer, residual);
  return comm.sum_in_f32 ? reduce_block_in_f32(group, x, comm, op, residual)
                         : reduce_block_in_wire(group, x, comm, op, residual);
}

}  // namespace mantissa::distributed
