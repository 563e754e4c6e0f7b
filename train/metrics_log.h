#pragma once
// A JSONL metrics file: one JSON object per line, appended and flushed as it is written,
// so a run's metrics survive a crash and a resumed run continues the same file. A line that
// cannot be written is an Error naming the file, never lost silently.
//
//   training::MetricsLog metrics(run.metrics());
//   metrics.write({{"step", step}, {"loss", loss}, {"lr", lr}});
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mantissa::training {

using MetricValue = std::variant<int64_t, double, bool, std::string>;
using MetricsLine = std::vector<std::pair<std::string, MetricValue>>;

class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path);  // appends; creates the file if needed
  void write(const MetricsLine& line);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// A line as JSON (keys in the given order). Non-finite doubles become null, as JSON has none.
std::string to_json_line(const MetricsLine& line);

}  // namespace mantissa::training
