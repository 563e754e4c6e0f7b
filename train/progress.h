#pragma once
// Progress of a loop of known length: the rate and the time left, measured from the first
// step this process ran (a resumed run does not count the steps it inherited).
//
//   training::Progress progress(first_step, total_steps, tokens_per_step, "tok");
//   ... after each step:
//   if (log_now) out << progress.line(step + 1, fmt::format("loss {:.4f}", loss)) << "\n";
//   // "step   120/2000 | loss 2.3104 | 11234 tok/s | ETA 1m52s"
#include <chrono>
#include <cstdint>
#include <string>

namespace mantissa::training {

class Progress {
 public:
  Progress(int64_t first_step, int64_t total_steps, double units_per_step = 1.0, std::string unit = "steps");

  double elapsed_seconds() const;
  // After `done_through` steps in all (first_step of them inherited).
  double units_per_second(int64_t done_through) const;
  double ms_per_step(int64_t done_through) const;
  double eta_seconds(int64_t done_through) const;
  // "step <done>/<total> | <middle> | <rate> <unit>/s | ETA <time>"
  std::string line(int64_t done_through, const std::string& middle) const;

 private:
  int64_t first_step_, total_steps_;
  double units_per_step_;
  std::string unit_;
  std::chrono::steady_clock::time_point start_;
};

// 75 -> "1m15s", 9 -> "9s".
std::string format_duration(double seconds);

}  // namespace mantissa::training
