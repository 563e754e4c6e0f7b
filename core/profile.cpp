#include <mantissa/core/profile.h>

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include <mantissa/core/error.h>

namespace mantissa::profile {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Frame {
  const char* name;
  Category category;
  Clock::time_point opened, resumed;  // resumed: when the frame last became innermost
  double self_ms = 0, flops = 0;
};

struct Totals {
  Category category;
  int64_t calls = 0;
  double total_ms = 0, self_ms = 0, flops = 0;
};

// Each thread records on its own: OpenMP workers inside a primitive never open scopes, and
// a data-loading thread does not disturb the training thread's profile.
struct ThreadState {
  bool on = false, by_shape = false;
  std::unordered_set<std::string> shaped_names;  // what shaped_name handed out
  Clock::time_point started;
  std::vector<Frame> stack;
  std::unordered_map<const char*, Totals> totals;  // names are literals: the pointer is the key
};
thread_local ThreadState state;

}  // namespace

const char* category_name(Category category) {
#define MANTISSA_PROFILE_NAME(name) #name,
  static const char* const names[] = {MANTISSA_FOR_EACH_PROFILE_CATEGORY(MANTISSA_PROFILE_NAME)};
#undef MANTISSA_PROFILE_NAME
  return names[static_cast<int>(category)];
}

bool recording() { return state.on; }

Scope::Scope(const char* name, Category category) : active_(state.on) {
  if (!active_) return;
  const Clock::time_point now = Clock::now();
  if (!state.stack.empty()) state.stack.back().self_ms += ms_between(state.stack.back().resumed, now);
  state.stack.push_back({name, category, now, now});
}

Scope::~Scope() {
  if (!active_ || state.stack.empty()) return;  // the session ended inside this scope
  const Clock::time_point now = Clock::now();
  Frame frame = state.stack.back();
  state.stack.pop_back();
  Totals& t = state.totals[frame.name];
  t.category = frame.category;
  ++t.calls;
  t.total_ms += ms_between(frame.opened, now);
  t.self_ms += frame.self_ms + ms_between(frame.resumed, now);
  t.flops += frame.flops;
  if (!state.stack.empty()) state.stack.back().resumed = now;
}

void add_flops(double flops) {
  if (state.on && !state.stack.empty()) state.stack.back().flops += flops;
}

const char* shaped_name(const char* name, std::initializer_list<const Shape*> shapes) {
  if (!state.by_shape) return name;
  std::string shaped = name;
  for (const Shape* shape : shapes) {
    shaped += ' ';
    shaped += shape_str(*shape);
  }
  return state.shaped_names.insert(std::move(shaped)).first->c_str();
}

Session::Session(bool by_shape) {
  MANTISSA_CHECK(!state.on, "profile::Session", "a session is already open on this thread (sessions do not nest)");
  state.on = true;
  state.by_shape = by_shape;
  reset();
}

Session::~Session() {
  state.on = state.by_shape = false;
  state.stack.clear();
  state.totals.clear();
  state.shaped_names.clear();
}

void Session::reset() {
  MANTISSA_CHECK(state.stack.empty(), "profile::Session::reset", "{} scope(s) still open, the innermost '{}'",
                 state.stack.size(), state.stack.empty() ? "" : state.stack.back().name);
  state.totals.clear();
  state.started = Clock::now();
}

Report Session::report() const {
  Report r;
  r.wall_ms = ms_between(state.started, Clock::now());
  // Equal names from different literals (another translation unit's copy) are one entry.
  std::unordered_map<std::string, Entry> by_name;
  double attributed = 0;
  for (const auto& [name, t] : state.totals) {
    Entry& e = by_name.try_emplace(name, Entry{name, t.category}).first->second;
    e.calls += t.calls;
    e.total_ms += t.total_ms;
    e.self_ms += t.self_ms;
    e.flops += t.flops;
    attributed += t.self_ms;
  }
  for (auto& [name, e] : by_name) r.entries.push_back(std::move(e));
  r.outside_ms = std::max(0.0, r.wall_ms - attributed);
  std::sort(r.entries.begin(), r.entries.end(), [](const Entry& a, const Entry& b) { return a.self_ms > b.self_ms; });
  return r;
}

double Report::category_ms(Category category) const {
  double ms = 0;
  for (const Entry& e : entries)
    if (e.category == category) ms += e.self_ms;
  return ms;
}

namespace {

constexpr Category kCategories[] = {
#define MANTISSA_PROFILE_VALUE(name) Category::name,
    MANTISSA_FOR_EACH_PROFILE_CATEGORY(MANTISSA_PROFILE_VALUE)
#undef MANTISSA_PROFILE_VALUE
};

double gemm_flops(const Report& r) {
  double flops = 0;
  for (const Entry& e : r.entries)
    if (e.category == Category::gemm) flops += e.flops;
  return flops;
}

double share(double part, double whole) { return whole > 0 ? part / whole : 0; }

}  // namespace

std::string Report::table(int top_entries) const {
  std::string out = fmt::format("{:<14} {:>10} {:>7}\n", "category", "ms", "share");
  for (Category c : kCategories) {
    const double ms = category_ms(c);
    if (ms > 0) out += fmt::format("{:<14} {:>10.2f} {:>6.1f}%\n", category_name(c), ms, 100 * share(ms, wall_ms));
  }
  out += fmt::format("{:<14} {:>10.2f} {:>6.1f}%\n", "(no scope)", outside_ms, 100 * share(outside_ms, wall_ms));
  out += fmt::format("{:<14} {:>10.2f}\n", "wall", wall_ms);
  const double gemm_ms = category_ms(Category::gemm);
  out += fmt::format("GEMMs take {:.1f}% of the wall time at {:.1f} GFLOP/s: the step could be at most {:.2f}x "
                     "faster if nothing else took time\n",
                     100 * share(gemm_ms, wall_ms), share(gemm_flops(*this), gemm_ms * 1e6),
                     share(wall_ms, gemm_ms));
  out += fmt::format("\n{:<28} {:<12} {:>8} {:>10} {:>10}\n", "scope", "category", "calls", "self ms", "total ms");
  for (int i = 0; i < std::min<int>(top_entries, static_cast<int>(entries.size())); ++i) {
    const Entry& e = entries[static_cast<size_t>(i)];
    out += fmt::format("{:<28} {:<12} {:>8} {:>10.2f} {:>10.2f}\n", e.name, category_name(e.category), e.calls,
                       e.self_ms, e.total_ms);
  }
  return out;
}

std::string Report::json() const {
  nlohmann::ordered_json j;
  j["wall_ms"] = wall_ms;
  j["outside_ms"] = outside_ms;
  nlohmann::ordered_json categories = nlohmann::ordered_json::object();
  for (Category c : kCategories) categories[category_name(c)] = category_ms(c);
  j["categories_ms"] = categories;
  j["gemm_flops"] = gemm_flops(*this);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Entry& e : entries)
    list.push_back({{"name", e.name}, {"category", category_name(e.category)}, {"calls", e.calls},
                    {"self_ms", e.self_ms}, {"total_ms", e.total_ms}, {"flops", e.flops}});
  j["scopes"] = list;
  return j.dump(1);
}

}  // namespace mantissa::profile
