// precision_report: turns training runs' JSONL (metrics.jsonl, precision.jsonl) into one
// HTML page with plots.
//   precision_report --out report.html out-32-true out-bf16-mixed out-16-mixed
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "examples/common/error_exit.h"
#include <mantissa/core/io/atomic_file.h>
#include <mantissa/precision/report/html_report.h>

int main(int argc, char** argv) {
  CLI::App app{"mantissa precision report: compare training runs' precision timelines in one HTML page"};
  std::vector<std::string> run_dirs;
  std::string out = "precision_report.html";
  app.add_option("runs", run_dirs, "run directories (each with metrics.jsonl, optionally precision.jsonl)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--out", out, "the HTML file to write")->capture_default_str();
  bool table = false;
  app.add_flag("--table", table, "also print a Markdown table (final val loss, ms/step, bytes/parameter)");
  CLI11_PARSE(app, argc, argv);
  return mantissa::examples::run_reporting_errors([&] {
    std::vector<mantissa::precision::report::RunData> runs;
    for (const std::string& dir : run_dirs) runs.push_back(mantissa::precision::report::load_run(dir));
    const std::string html = mantissa::precision::report::render_html(runs);
    mantissa::io::write_file_atomically(out, [&](std::ostream& file) { file << html; });
    std::cout << "wrote " << out << " (" << runs.size() << " runs)\n";
    if (table) std::cout << "\n" << mantissa::precision::report::render_markdown_table(runs);
    return 0;
  });
}
