#pragma once
// The search cuDNN's engine choice needs: candidates come from several sources in order of
// preference (heuristic mode A, then the fallback list), and any step may fail for one source
// or one candidate without condemning the rest. Header only and free of CUDA types, so the CPU
// tests check it.
#include <optional>
#include <string>
#include <vector>

#include <mantissa/core/error.h>

namespace mantissa::cuda {

// The first result that `attempt` gives for the candidates `list` returns for each source in
// turn. An Error while listing a source's candidates or attempting one is kept as
// `last_error` and the search goes on with the next; attempt returns nullopt for a candidate it
// declines. nullopt when nothing worked, with `last_error` saying why the last failure failed.
template <typename Result, typename Source, typename List, typename Attempt>
std::optional<Result> first_that_works(const std::vector<Source>& sources, List list, Attempt attempt,
                                       std::string& last_error) {
  for (const Source& source : sources) {
    decltype(list(source)) candidates;
    try {
      candidates = list(source);
    } catch (const Error& e) {
      last_error = e.what();
      continue;
    }
    for (const auto& candidate : candidates) {
      try {
        if (std::optional<Result> result = attempt(candidate)) return result;
      } catch (const Error& e) {
        last_error = e.what();
      }
    }
  }
  return std::nullopt;
}

}  // namespace mantissa::cuda
