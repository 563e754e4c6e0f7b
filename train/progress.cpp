#include <mantissa/train/progress.h>

#include <fmt/format.h>

#include <algorithm>

namespace mantissa::training {

Progress::Progress(int64_t first_step, int64_t total_steps, double units_per_step, std::string unit)
    : first_step_(first_step),
      total_steps_(total_steps),
      units_per_step_(units_per_step),
      unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

namespace {
double steps_run(int64_t first_step, int64_t done_through) {
  return static_cast<double>(std::max<int64_t>(1, done_through - first_step));
}
}  // namespace

double Progress::units_per_second(int64_t done_through) const {
  return steps_run(first_step_, done_through) * units_per_step_ / elapsed_seconds();
}

double Progress::ms_per_step(int64_t done_through) const {
  return 1000.0 * elapsed_seconds() / steps_run(first_step_, done_through);
}

double Progress::eta_seconds(int64_t done_through) const {
  const double left = static_cast<double>(std::max<int64_t>(0, total_steps_ - done_through));
  return elapsed_seconds() / steps_run(first_step_, done_through) * left;
}

std::string Progress::line(int64_t done_through, const std::string& middle) const {
  const int width = static_cast<int>(fmt::format("{}", total_steps_).size());
  return fmt::format("step {:>{}}/{} | {} | {:.0f} {}/s | ETA {}", done_through, width, total_steps_, middle,
                     units_per_second(done_through), unit_, format_duration(eta_seconds(done_through)));
}

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  return s >= 60 ? fmt::format("{}m{:02}s", s / 60, s % 60) : fmt::format("{}s", s);
}

}  // namespace mantissa::training
