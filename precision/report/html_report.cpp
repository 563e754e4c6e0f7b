#include <mantissa/precision/report/html_report.h>

#include <algorithm>

#include <fmt/format.h>

#include <mantissa/precision/report/svg_plot.h>

namespace mantissa::precision::report {

namespace {

std::string section(const std::string& title, const std::string& explanation, const std::string& body) {
  return fmt::format("<h2>{}</h2>\n<p>{}</p>\n{}\n", escape(title), escape(explanation), body);
}

std::string loss_curves(const std::vector<RunData>& runs) {
  LineChart train{"Training loss", "step", "loss", {}, false};
  LineChart val{"Validation loss", "step", "loss", {}, false};
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunData& r = runs[i];
    train.series.push_back({r.label, r.train_loss.steps, r.train_loss.values, i});
    val.series.push_back({r.label, r.val_loss.steps, r.val_loss.values, i});
  }
  return section("Loss per mode", "Training loss at each logged step and validation loss at each evaluation.",
                 render(train) + render(val));
}

std::string loss_scales(const std::vector<RunData>& runs) {
  LineChart chart{"Loss scale", "step", "scale (log)", {}, true};
  std::string skipped;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunData& r = runs[i];
    if (r.loss_scale.steps.empty()) continue;
    chart.series.push_back({r.label, r.loss_scale.steps, r.loss_scale.values, i});
    skipped += fmt::format("<li>{}: {} skipped step(s){}</li>\n", escape(r.label), r.skipped_steps.size(),
                           r.skipped_steps.empty() ? "" : fmt::format(", first at step {}", r.skipped_steps.front()));
  }
  if (chart.series.empty()) return "";
  return section("Dynamic loss scaling",
                 "The scale backs off by the backoff factor on every step with an inf/NaN gradient (that step is "
                 "skipped) and grows after each run of finite steps as long as the growth interval.",
                 render(chart) + "<ul>\n" + skipped + "</ul>\n");
}

std::string heat_maps(const std::vector<RunData>& runs, const TensorTimelines RunData::*field, const std::string& title,
                      const std::string& explanation) {
  std::string body;
  for (const RunData& r : runs) {
    const TensorTimelines& t = r.*field;
    if (t.steps.empty()) continue;
    body += render(HeatMap{title + ": " + r.label, "step", t.names, t.steps, t.values});
  }
  return body.empty() ? "" : section(title, explanation, body);
}

// One chart per run: a quantity of every GEMM over the instrumented steps.
std::string per_gemm_charts(const std::vector<RunData>& runs, const TensorTimelines RunData::*field,
                            const std::string& title, const std::string& y_label) {
  std::string body;
  for (const RunData& r : runs) {
    const TensorTimelines& t = r.*field;
    if (t.steps.empty()) continue;
    LineChart chart{title + ": " + r.label, "step", y_label, {}, true};
    for (size_t i = 0; i < t.names.size(); ++i) chart.series.push_back({t.names[i], t.steps, t.values[i], i});
    body += render(chart);
  }
  return body;
}

std::string fp8_scaling(const std::vector<RunData>& runs) {
  const std::string body =
      per_gemm_charts(runs, &RunData::fp8_input_amax, "fp8 input amax (history window max)", "amax (log)") +
      per_gemm_charts(runs, &RunData::fp8_input_scale, "fp8 input scale", "scale (log)") +
      per_gemm_charts(runs, &RunData::fp8_grad_output_amax, "fp8 grad-output amax", "amax (log)") +
      per_gemm_charts(runs, &RunData::fp8_grad_output_scale, "fp8 grad-output scale", "scale (log)");
  if (body.empty()) return "";
  return section("fp8 delayed scaling",
                 "Per GEMM (named by its weight), the amax over the history window and the scale computed from it: "
                 "scale = (fp8 max / amax) / 2^margin, updated when the fp8 region closes (forward) and at the end "
                 "of backward (gradients).",
                 body);
}

// Per run and role, the last instrumented step's shares of blocks and of values lost.
std::string block_totals_table(const std::vector<RunData>& runs) {
  std::string rows;
  for (const RunData& r : runs)
    for (const auto& [role, t] : r.block_totals) {
      auto share = [&](const char* part, const char* whole) {
        return fmt::format("{:.3g}%", 100.0 * t.at(part) / std::max(1.0, t.at(whole)));
      };
      rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", escape(r.label),
                          escape(role), share("underflowing", "blocks"), share("underflowed_values", "values"),
                          share("saturating", "blocks"), share("saturated_values", "values"));
    }
  if (rows.empty()) return "";
  return "<table><tr><th>run</th><th>operand</th><th>blocks underflowing</th><th>values flushed</th>"
         "<th>blocks saturating</th><th>values clipped</th></tr>\n" + rows + "</table>\n";
}

std::string block_scaling(const std::vector<RunData>& runs) {
  std::string body = block_totals_table(runs);
  for (const RunData& r : runs) {
    if (r.block_scale_operands.empty()) continue;
    body += render(HeatMap{"Blocks underflowing: " + r.label, "step", r.block_underflow.names, r.block_underflow.steps,
                           r.block_underflow.values});
    body += render(HeatMap{"Blocks saturating: " + r.label, "step", r.block_saturate.names, r.block_saturate.steps,
                           r.block_saturate.values});
    body += render(HeatMap{"Block scales at the last instrumented step: " + r.label, "log2 of the block's scale",
                           r.block_scale_operands, r.block_scale_exponents, r.block_scale_fractions});
  }
  if (body.empty()) return "";
  return section("Block scaling",
                 "Per GEMM operand of the block-scaled recipes (MXFP8, fp8-block, NVFP4), over the blocks holding a "
                 "non-zero value: the fraction with a value that rounds to zero (underflowing) and with a value past "
                 "the element format's largest (saturating, clipped), each as rounding to nearest would do it; then "
                 "how the blocks' scales spread (the share of blocks at each power of two). The table gives the last "
                 "instrumented step over all GEMMs, per block and per non-zero value: a large block (fp8-block's "
                 "128 x 128 weight tiles) nearly always holds one tiny value, so its block share overstates the loss.",
                 body);
}

std::string memory_bars(const std::vector<RunData>& runs) {
  StackedBars bars{"Memory by category", "MiB", {}, {}, {}};
  const auto& categories = memory_categories();
  for (const auto& [key, label] : categories) bars.categories.push_back(label);
  std::string table = "<table><tr><th>run</th><th>bytes / parameter</th></tr>\n";
  for (const RunData& r : runs) {
    if (r.memory.empty()) continue;
    bars.groups.push_back(r.label);
    std::vector<double> values;
    for (const auto& [key, label] : categories) values.push_back(r.memory.at(key) / (1024.0 * 1024.0));
    bars.values.push_back(values);
    table += fmt::format("<tr><td>{}</td><td>{:.2f}</td></tr>\n", escape(r.label), r.bytes_per_parameter);
  }
  if (bars.groups.empty()) return "";
  return section("Memory",
                 "Measured after a forward pass, so activations are those the graph holds for backward. Bytes per "
                 "parameter counts parameters, gradients, master weights and optimizer states.",
                 render(bars) + table + "</table>\n");
}

std::string final_value(const Timeline& t, const char* format) {
  return t.values.empty() ? "-" : fmt::format(fmt::runtime(format), t.values.back());
}

}  // namespace

std::string render_markdown_table(const std::vector<RunData>& runs) {
  std::string out = "| run | final val loss | ms/step | vs first | bytes/param |\n|---|---|---|---|---|\n";
  const double baseline = runs.empty() ? 0 : runs.front().ms_per_step;
  for (const RunData& r : runs)
    out += fmt::format("| {} | {} | {:.0f} | {} | {} |\n", r.label, final_value(r.val_loss, "{:.4f}"), r.ms_per_step,
                       baseline > 0 ? fmt::format("{:.2f}", r.ms_per_step / baseline) : "-",
                       r.memory.empty() ? "-" : fmt::format("{:.3g}", r.bytes_per_parameter));
  return out;
}

std::string render_html(const std::vector<RunData>& runs) {
  std::string names;
  for (const RunData& r : runs) names += (names.empty() ? "" : ", ") + r.label;
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mantissa precision report</title>\n"
      "<style>body{{font-family:sans-serif;max-width:800px;margin:24px auto;color:#222}}"
      "table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 10px}}</style></head><body>\n"
      "<h1>Precision report</h1>\n<p>Runs: {}</p>\n",
      escape(names));
  html += loss_curves(runs);
  html += loss_scales(runs);
  html += heat_maps(runs, &RunData::gradient_f16_underflow, "Gradients f16 would flush to zero",
                    "Per parameter, the fraction of true (unscaled) gradient values below half of f16's smallest "
                    "subnormal: what loss scaling exists to rescue.");
  html += heat_maps(runs, &RunData::gradient_e4m3_underflow, "Gradients E4M3 would flush to zero (unscaled)",
                    "The same for fp8 E4M3 without a scaling factor: why fp8 needs per-tensor scales.");
  html += heat_maps(runs, &RunData::stalled, "Updates lost to rounding",
                    "Per parameter, the fraction of elements with a nonzero gradient whose weight as the optimizer "
                    "holds it (the f32 master, the flash reconstruction, or the parameter itself) did not change in "
                    "the step: updates below half an ulp, lost.");
  html += fp8_scaling(runs);
  html += block_scaling(runs);
  html += memory_bars(runs);
  return html + "</body></html>\n";
}

}  // namespace mantissa::precision::report
