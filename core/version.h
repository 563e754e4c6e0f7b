#pragma once
// The library's version, from the repository's VERSION file at build time.

namespace mantissa {

// "MAJOR.MINOR.PATCH", as find_package(mantissa) checks it.
const char* version();

}  // namespace mantissa
