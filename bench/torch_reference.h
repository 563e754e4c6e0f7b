#pragma once
// How the benchmarks read a PyTorch reference script's RESULT line (../shared/bench/torch_common.py).
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

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

// Times `script` (a torch_common.py benchmark) with Debian's /usr/bin/python3 under each
// OpenBLAS setting and prints each time and mantissa's ratio to it, then the ratio to the
// fastest (< 1: mantissa is faster). torch.set_num_threads does not reach OpenBLAS's own pool,
// which would otherwise use every core whatever `threads` says. OMP_WAIT_POLICY=passive keeps
// Debian's torch OpenMP pool from fighting OpenBLAS's threads at fp32 (../shared/bench/README.md;
// not for bf16). OpenBLAS 0.3.21 does not recognise some VMs' CPUs and falls back to its
// generic "Prescott" kernels; forcing its AVX-512 ones gives PyTorch its best time there.
// With `ours_memory`, also each run's peak RSS and the ratios of mantissa's to the smallest:
// whole processes, and above each runtime's own (PeakMemory).
inline void compare_with_torch_on_cpu(const std::string& script, int threads, const std::string& dtype, int steps,
                                      double ours_ms, std::optional<PeakMemory> ours_memory = std::nullopt) {
  const std::string wait = dtype == "bf16" ? "" : "OMP_WAIT_POLICY=passive";
  const std::pair<const char*, std::string> variants[] = {
      {"PyTorch (as configured)", wait},
      {"PyTorch (without OPENBLAS_CORETYPE)", "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " + wait},
      {"PyTorch (OPENBLAS_CORETYPE=Cooperlake)", "OPENBLAS_CORETYPE=Cooperlake " + wait}};
  std::optional<double> best, least_memory;
  for (const auto& [name, env] : variants) {
    const auto result = run_reference(fmt::format("{} OPENBLAS_NUM_THREADS={} /usr/bin/python3 {} --threads {} --dtype {} --steps {}",
                                                  env, threads, script, threads, dtype, steps));
    if (!result || !result->contains("ms_median")) {
      fmt::print("{:<44} not available (needs /usr/bin/python3 with torch and OpenBLAS)\n", name);
      continue;
    }
    const double t = result->at("ms_median").get<double>();
    fmt::print("{:<44} {:>9.2f} ms/step   ratio mantissa/PyTorch {:.2f}", name, t, ours_ms / t);
    if (result->contains("peak_rss_mib")) {
      const double rss = result->at("peak_rss_mib").get<double>();
      fmt::print("   peak RSS {:.0f} MiB", rss);
      least_memory = least_memory ? std::min(*least_memory, rss) : rss;
    }
    fmt::print("\n");
    best = best ? std::min(*best, t) : t;
  }
  if (best) fmt::print("ratio against the fastest PyTorch: {:.2f}\n", ours_ms / *best);
  if (!ours_memory || !least_memory) return;
  fmt::print("peak RSS: mantissa {:.0f} MiB, PyTorch {:.0f} MiB (its smallest run): ratio {:.2f}\n", ours_memory->peak_mib,
             *least_memory, ours_memory->peak_mib / *least_memory);
  const auto runtime = torch_runtime_rss_mib();
  if (runtime && *least_memory > *runtime)
    fmt::print("above the runtime's own (mantissa before the workload {:.0f} MiB, python3 after import torch {:.0f} MiB): "
               "mantissa {:.0f} MiB, PyTorch {:.0f} MiB: ratio {:.2f}\n",
               ours_memory->runtime_mib, *runtime, ours_memory->workload_mib(), *least_memory - *runtime,
               ours_memory->workload_mib() / (*least_memory - *runtime));
}

}  // namespace mantissa::bench
