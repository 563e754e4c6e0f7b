#pragma once
// What a libFuzzer target does when an input breaks a property it holds: say which, and
// abort, so that libFuzzer saves the input as a crash (scripts/fuzz.sh).
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

template <typename... Args>
void fuzz_require(bool holds, fmt::format_string<Args...> format, Args&&... args) {
  if (holds) return;
  std::fprintf(stderr, "property broken: %s\n", fmt::format(format, std::forward<Args>(args)...).c_str());
  std::abort();
}
