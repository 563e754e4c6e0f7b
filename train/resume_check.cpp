#include <mantissa/train/resume_check.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>

namespace mantissa::training {

namespace {
void compare(const nlohmann::json& was, const nlohmann::json& is, const std::set<std::string>& may_change,
             std::vector<std::string>& conflicts) {
  for (const auto& [key, value] : is.items()) {
    const auto it = was.find(key);
    if (may_change.count(key) || it == was.end()) continue;
    if (value.is_object() && it->is_object()) {
      compare(*it, value, may_change, conflicts);
    } else if (*it != value) {
      std::string flag = "--" + key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      conflicts.push_back(fmt::format("{} {} (the run's: {})", flag, value.dump(), it->dump()));
    }
  }
}
}  // namespace

std::vector<std::string> resume_conflicts(const std::string& saved_json, const std::string& now_json,
                                          const std::set<std::string>& may_change) {
  std::vector<std::string> conflicts;
  try {
    compare(nlohmann::json::parse(saved_json), nlohmann::json::parse(now_json), may_change, conflicts);
  } catch (const nlohmann::json::exception& e) {
    fail("training::resume_conflicts", "unreadable options: {}", e.what());
  }
  return conflicts;
}

}  // namespace mantissa::training
