#pragma once
// Internal to core: the Backend that backend_for hands out while this thread records a
// profile (core/profile.h). It times each primitive under its kind and forwards to the real one.
#include <mantissa/core/backend.h>

namespace mantissa::profile {

// The profiling stand-in for `inner` (one per backend object, for the program's life).
Backend& profiling_backend(Backend& inner);

}  // namespace mantissa::profile
