#pragma once
// Anomaly mode, for finding where an overflow starts: while it is on, every recorded op's
// forward output and every gradient a backward node returns are checked for inf and NaN, and
// the first one found is an Error naming the op and its inputs' shapes, dtypes and value
// ranges (as torch.autograd.detect_anomaly names the backward function; here the forward is
// checked too). Each check is a pass over the tensor, so it is for debugging, not for speed. A
// loss scaler's routine overflows become errors too: that is where they start.
//
//   DetectAnomalyGuard anomaly;   // or set_detect_anomaly(true) for the whole program
//   loss.backward();              // "anomaly: the backward of sqrt made 1 of 2 elements inf or NaN ..."
#include <string>
#include <vector>

#include <mantissa/core/tensor.h>

namespace mantissa {

bool detect_anomaly_enabled();
void set_detect_anomaly(bool enabled);  // for every thread

class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : previous_(detect_anomaly_enabled()) { set_detect_anomaly(true); }
  ~DetectAnomalyGuard() { set_detect_anomaly(previous_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

namespace anomaly_detail {
// Called by the autograd recorder and engine when anomaly mode is on.
void check_forward(const char* op, const std::vector<Tensor>& inputs, const Tensor& output);
void check_backward(const char* op, const Tensor& incoming, const std::vector<Tensor>& gradients);
}  // namespace anomaly_detail

}  // namespace mantissa
