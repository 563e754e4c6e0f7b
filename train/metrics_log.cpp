#include <mantissa/train/metrics_log.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>

#include <mantissa/core/error.h>

namespace mantissa::training {

std::string to_json_line(const MetricsLine& line) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [key, value] : line)
    std::visit(
        [&](const auto& v) {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, double>) {
            if (!std::isfinite(v)) {
              j[key] = nullptr;
              return;
            }
          }
          j[key] = v;
        },
        value);
  return j.dump();
}

MetricsLog::MetricsLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  MANTISSA_CHECK(out_.good(), "training::MetricsLog", "cannot open {} for appending: {}", path, std::strerror(errno));
}

void MetricsLog::write(const MetricsLine& line) {
  out_ << to_json_line(line) << '\n';
  out_.flush();
  MANTISSA_CHECK(out_.good(), "training::MetricsLog", "cannot write to {} (disk full, or the file was removed?)", path_);
}

}  // namespace mantissa::training
