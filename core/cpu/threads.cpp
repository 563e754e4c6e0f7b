#include <mantissa/core/threads.h>

#include <omp.h>

#include <mantissa/core/error.h>

namespace mantissa {

void set_num_threads(int n) {
  MANTISSA_CHECK(n >= 1, "set_num_threads", "needs at least one thread, got {}", n);
  omp_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace mantissa
