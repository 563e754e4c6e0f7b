#pragma once
// The number of CPU threads the CPU backend (its own loops and oneDNN's, one OpenMP runtime)
// uses, as torch.set_num_threads: programs call these instead of OpenMP directly.

namespace mantissa {

// n >= 1; applies to the calling thread and the threads it starts from now on.
void set_num_threads(int n);
int num_threads();

}  // namespace mantissa
