#pragma once
// How the benchmarks read a PyTorch reference script's RESULT line (../shared/bench/torch_common.py).
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/resource.h>

#include <fmt/format.h>

namespace mantissa::bench {

// Runs a reference script and returns its RESULT line's JSON, or nothing when it cannot run.
inline std::optional<nlohmann::json> run_reference(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
  if (!pipe) return std::nullopt;
  std::array<char, 8192> line;
  std::optional<nlohmann::json> result;
  while (fgets(line.data(), line.size(), pipe.get())) {
    if (std::strncmp(line.data(), "RESULT ", 7) != 0) continue;
    try {
      result = nlohmann::json::parse(line.data() + 7);
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;  // a line that is not the reference's result: say it is unavailable
    }
  }
  return result;
}

// The median ms/step of a reference script's RESULT line.
inline std::optional<double> time_torch(const std::string& command) {
  const auto result = run_reference(command);
  if (!result || !result->contains("ms_median")) return std::nullopt;
  return result->at("ms_median").get<double>();
}

// This process's peak resident memory so far, in MiB (getrusage; children not included).
inline double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Memory as a benchmark reports it: the peak of the whole process and its peak before the
// workload was built (the runtime's own: libraries, thread pools), so that the workload's
// share can be compared apart from what each runtime costs before it does anything.
struct PeakMemory {
  double peak_mib = 0, runtime_mib = 0;
  double workload_mib() const { return peak_mib - runtime_mib; }
};

// PyTorch's runtime: the peak RSS of Debian's python3 once it has imported torch.
inline std::optional<double> torch_runtime_rss_mib() {
  const auto result = run_reference(
      "/usr/bin/python3 -c \"import json, resource, torch; print('RESULT ' + json.dumps({'peak_rss_mib': "
      "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\"");
  if (!result || !result->contains("peak_rss_mib")) return std::nullopt;
  return result->at("peak_rss_mib").get<double>();
}

// The median of a non-empty list (the mean of the middle two for an even count).
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// Times mantissa (`time_ours`, a median ms/step) and `script` (a torch_common.py benchmark,
// Debian's /usr/bin/python3) under each OpenBLAS setting, alternating, for `rounds` rounds, and
// prints each round's times and the ratio of mantissa to that round's fastest PyTorch (< 1:
// mantissa is faster), then the median of those ratios and the ratio of each side's best
// round. Alternating rounds because this machine's speed drifts by 15-20% within minutes (one
// pair of runs is good to about 0.1); the best rounds are the least disturbed ones.
// torch.set_num_threads does not reach OpenBLAS's own pool, which would otherwise use every
// core whatever `threads` says. OMP_WAIT_POLICY=passive keeps Debian's torch OpenMP pool from
// fighting OpenBLAS's threads at fp32 (../shared/bench/README.md; not for bf16). OpenBLAS
// 0.3.21 does not recognise some VMs' CPUs and falls back to its generic "Prescott" kernels;
// forcing its AVX-512 ones gives PyTorch its best time there. Also prints the peak RSS of each
// side and their ratio: whole processes, and above each runtime's own (PeakMemory; `memory`'s
// peak is read after the rounds).
inline void compare_with_torch_on_cpu(const std::string& script, int threads, const std::string& dtype, int steps,
                                      int rounds, const std::function<double()>& time_ours, PeakMemory memory) {
  const std::string wait = dtype == "bf16" ? "" : "OMP_WAIT_POLICY=passive";
  const std::pair<const char*, std::string> variants[] = {
      {"as configured", wait},
      {"without OPENBLAS_CORETYPE", "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " + wait},
      {"OPENBLAS_CORETYPE=Cooperlake", "OPENBLAS_CORETYPE=Cooperlake " + wait}};
  fmt::print("PyTorch settings: {}; {}; {}\n", variants[0].first, variants[1].first, variants[2].first);
  std::vector<double> ours_ms, paired_ours_ms, best_ms, ratios;  // paired: rounds PyTorch ran in
  std::optional<double> least_memory;
  for (int round = 1; round <= rounds; ++round) {
    const double ours = time_ours();
    std::string torch_times;
    std::optional<double> best;
    for (const auto& [name, env] : variants) {
      const auto result = run_reference(fmt::format("{} OPENBLAS_NUM_THREADS={} /usr/bin/python3 {} --threads {} --dtype {} --steps {}",
                                                    env, threads, script, threads, dtype, steps));
      if (!result || !result->contains("ms_median")) {
        torch_times += " n/a";
        continue;
      }
      const double t = result->at("ms_median").get<double>();
      torch_times += fmt::format(" {:.2f}", t);
      best = best ? std::min(*best, t) : t;
      if (result->contains("peak_rss_mib")) {
        const double rss = result->at("peak_rss_mib").get<double>();
        least_memory = least_memory ? std::min(*least_memory, rss) : rss;
      }
    }
    fmt::print("round {}: mantissa {:.2f} ms/step, PyTorch{} ms/step", round, ours, torch_times);
    ours_ms.push_back(ours);
    if (best) {
      fmt::print(", ratio to the fastest {:.2f}", ours / *best);
      paired_ours_ms.push_back(ours);
      best_ms.push_back(*best);
      ratios.push_back(ours / *best);
    }
    fmt::print("\n");
  }
  if (ratios.empty()) {
    fmt::print("mantissa {:.2f} ms/step (median of {} rounds), peak RSS {:.0f} MiB; PyTorch not available (needs "
               "/usr/bin/python3 with torch and OpenBLAS)\n", median(ours_ms), rounds, peak_rss_mib());
    return;
  }
  const auto [lowest, highest] = std::minmax_element(ratios.begin(), ratios.end());
  fmt::print("median of {} rounds: mantissa {:.2f} ms/step, fastest PyTorch {:.2f} ms/step; ratio mantissa/PyTorch {:.2f} "
             "(rounds {:.2f}-{:.2f})\n",
             ratios.size(), median(paired_ours_ms), median(best_ms), median(ratios), *lowest, *highest);
  const double ours_best = *std::min_element(paired_ours_ms.begin(), paired_ours_ms.end());
  const double torch_best = *std::min_element(best_ms.begin(), best_ms.end());
  fmt::print("best of {} rounds: mantissa {:.2f} ms/step, PyTorch {:.2f} ms/step; ratio {:.2f}\n", ratios.size(), ours_best,
             torch_best, ours_best / torch_best);
  memory.peak_mib = peak_rss_mib();
  if (!least_memory) return;
  fmt::print("peak RSS: mantissa {:.0f} MiB, PyTorch {:.0f} MiB (its smallest run): ratio {:.2f}\n", memory.peak_mib,
             *least_memory, memory.peak_mib / *least_memory);
  const auto runtime = torch_runtime_rss_mib();
  if (runtime && *least_memory > *runtime)
    fmt::print("above the runtime's own (mantissa before the workload {:.0f} MiB, python3 after import torch {:.0f} MiB): "
               "mantissa {:.0f} MiB, PyTorch {:.0f} MiB: ratio {:.2f}\n",
               memory.runtime_mib, *runtime, memory.workload_mib(), *least_memory - *runtime,
               memory.workload_mib() / (*least_memory - *runtime));
}

// Without PyTorch: mantissa's median ms/step over `rounds` rounds and its peak RSS.
inline void report_mantissa_alone(int rounds, const std::function<double()>& time_ours, PeakMemory memory) {
  std::vector<double> ms;
  for (int round = 0; round < rounds; ++round) ms.push_back(time_ours());
  memory.peak_mib = peak_rss_mib();
  fmt::print("mantissa {:.2f} ms/step (median of {} rounds), peak RSS {:.0f} MiB ({:.0f} before the workload)\n",
             median(ms), rounds, memory.peak_mib, memory.runtime_mib);
}

}  // namespace mantissa::bench
