#pragma once
// The precision report: one self-contained HTML page (inline SVG, no scripts, opens
// offline) comparing runs: loss curves, loss scale, gradient underflow and update
// stagnation heat maps, and memory by category.
#include <string>
#include <vector>

#include "precision/report/run_data.h"

namespace mantissa::precision::report {

std::string render_html(const std::vector<RunData>& runs);

}  // namespace mantissa::precision::report
