#pragma once
// The precision report: one self-contained HTML page (inline SVG, no scripts, opens
// offline) comparing runs: loss curves, loss scale, gradient underflow and update
// stagnation heat maps, and memory by category.
#include <string>
#include <vector>

#include <mantissa/precision/report/run_data.h>

namespace mantissa::precision::report {

std::string render_html(const std::vector<RunData>& runs);

// A Markdown table of each run's final validation loss, ms/step (and its ratio to the first
// run's), and bytes per parameter: what docs/precision.md carries.
std::string render_markdown_table(const std::vector<RunData>& runs);

}  // namespace mantissa::precision::report
