#pragma once
// --profile for the step benchmarks: runs more steps under a step profile (core/profile.h),
// prints where the time goes by category (and primitives by operand shapes, with by_shape) and
// optionally writes the profile as JSON.
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <string>

#include <mantissa/core/error.h>
#include <mantissa/core/profile.h>

namespace mantissa::bench {

inline void profile_steps(const std::function<void()>& step, int steps, bool by_shape, const std::string& json_path) {
  profile::Session session(by_shape);
  for (int i = 0; i < steps; ++i) step();
  const profile::Report report = session.report();
  fmt::print("\nStep profile over {} steps ({:.2f} ms/step with profiling's own overhead; read the shares)\n{}",
             steps, report.wall_ms / steps, report.table());
  if (json_path.empty()) return;
  std::ofstream file(json_path);
  file << report.json() << "\n";
  MANTISSA_CHECK(file.good(), "--profile-json", "could not write {}", json_path);
  fmt::print("profile written to {}\n", json_path);
}

}  // namespace mantissa::bench
