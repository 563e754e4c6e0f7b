#pragma once
// Resuming a run with the options that define another: a program's --resume continues the
// run its checkpoint holds, so the options that define that run (learning rates, model sizes,
// data, precision, seed...) must be the ones it started with. Both examples compare the
// options they were given with those the checkpoint recorded (their to_json()) and refuse
// every difference, named as its flag with the run's value.
#include <set>
#include <string>
#include <vector>

namespace mantissa::training {

// Each option in `now_json` whose value differs from `saved_json`'s, as "--flag-name value
// (the run's: value)", looking into nested objects ("model": {"n_layer": ...} is --n-layer).
// Keys in `may_change` are skipped, as are keys the saved options lack (newer than the run).
std::vector<std::string> resume_conflicts(const std::string& saved_json, const std::string& now_json,
                                          const std::set<std::string>& may_change);

}  // namespace mantissa::training
