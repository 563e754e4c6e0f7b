#pragma once
// How the example programs end on an error: whatever escapes their work (mantissa's Error, a
// file-system error for an out-dir that cannot be made, std::bad_alloc from a library that
// allocates on its own, any other std::exception) becomes one line on stderr naming the
// cause, and exit status 1. Without this, anything but Error reached std::terminate and
// aborted with a core dump.
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>

#include <mantissa/core/error.h>

namespace mantissa::examples {

// The one-line description of the exception being handled (call inside a catch block).
inline std::string describe_current_exception() {
  try {
    throw;
  } catch (const Error& e) {
    return e.what();
  } catch (const std::filesystem::filesystem_error& e) {
    return e.what();  // names the operation and the path(s)
  } catch (const std::bad_alloc&) {
    return "out of memory (a host allocation outside mantissa's allocator failed)";
  } catch (const std::exception& e) {
    return std::string("unexpected failure: ") + e.what();
  } catch (...) {
    return "unexpected failure of an unknown kind";
  }
}

// Runs body() and returns its exit status; on an exception prints "error: <cause>" and returns
// 1, after calling before_exit(cause) (the LLM example ends the other ranks of a job there).
template <typename Body, typename BeforeExit>
int run_reporting_errors(Body body, BeforeExit before_exit) {
  try {
    return body();
  } catch (...) {
    const std::string cause = describe_current_exception();
    before_exit(cause);
    std::cerr << "error: " << cause << "\n";
    return 1;
  }
}

template <typename Body> int run_reporting_errors(Body body) {
  return run_reporting_errors(body, [](const std::string&) {});
}

}  // namespace mantissa::examples
