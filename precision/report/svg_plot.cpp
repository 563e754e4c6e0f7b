#include <mantissa/precision/report/svg_plot.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace mantissa::precision::report {

namespace {

constexpr double kWidth = 760, kHeight = 340;
constexpr double kLeft = 72, kRight = 190, kTop = 34, kBottom = 48;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

// A colour-blind-safe palette (Okabe and Ito).
const char* colour(size_t i) {
  static const char* palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};
  return palette[i % 8];
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
  void widen() {
    if (empty()) lo = 0, hi = 1;
    if (lo == hi) lo -= 0.5, hi += 0.5;
  }
};

// Round tick positions (1, 2 or 5 times a power of ten) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi) {
  const double raw_step = (hi - lo) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  const double step = raw_step / magnitude < 2 ? 2 * magnitude : raw_step / magnitude < 5 ? 5 * magnitude : 10 * magnitude;
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

std::string number(double v) {
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.0e}", v);
  return fmt::format("{:.4g}", v);
}

std::string header(const std::string& title, double height = kHeight) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<text x=\"{2}\" y=\"20\" font-size=\"15\" "
      "font-weight=\"bold\">{3}</text>\n",
      kWidth, height, kLeft, escape(title));
}

std::string axis_labels(const std::string& x_label, const std::string& y_label) {
  return fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n"
      "<text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
      kLeft + kPlotW / 2, kHeight - 8, escape(x_label), kTop + kPlotH / 2, escape(y_label));
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

std::string render(const LineChart& chart) {
  auto ty = [&](double v) { return chart.log_y ? (v > 0 ? std::log10(v) : std::nan("")) : v; };
  Range xr, yr;
  for (const Series& s : chart.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      xr.add(s.x[i]);
      yr.add(ty(s.y[i]));
    }
  xr.widen();
  yr.widen();
  if (chart.log_y) yr.lo = std::floor(yr.lo), yr.hi = std::ceil(yr.hi);
  auto px = [&](double x) { return kLeft + (x - xr.lo) / (xr.hi - xr.lo) * kPlotW; };
  auto py = [&](double y) { return kTop + kPlotH - (y - yr.lo) / (yr.hi - yr.lo) * kPlotH; };

  std::string svg = header(chart.title);
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", kLeft, kTop,
                     kPlotW, kPlotH);
  for (double t : nice_ticks(xr.lo, xr.hi))
    svg += fmt::format("<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#eee\"/><text x=\"{0}\" y=\"{3}\" "
                       "text-anchor=\"middle\">{4}</text>\n",
                       px(t), kTop, kTop + kPlotH, kTop + kPlotH + 16, number(t));
  const std::vector<double> yticks =
      chart.log_y ? [&] { std::vector<double> t; for (double e = yr.lo; e <= yr.hi; ++e) t.push_back(e); return t; }()
                  : nice_ticks(yr.lo, yr.hi);
  for (double t : yticks)
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#eee\"/><text x=\"{3}\" y=\"{4}\" "
                       "text-anchor=\"end\">{5}</text>\n",
                       kLeft, kLeft + kPlotW, py(t), kLeft - 6, py(t) + 4, number(chart.log_y ? std::pow(10.0, t) : t));
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    std::string points;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      const double y = ty(s.y[i]);
      if (std::isfinite(y) && std::isfinite(s.x[i])) points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(y));
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" points=\"{}\"/>\n", colour(s.colour),
                       points);
    const double ly = kTop + 10 + 18 * static_cast<double>(k);
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"3\"/>"
                       "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
                       kLeft + kPlotW + 12, kLeft + kPlotW + 32, ly, colour(s.colour), kLeft + kPlotW + 38, ly + 4,
                       escape(s.label));
  }
  return svg + axis_labels(chart.x_label, chart.y_label) + "</svg>\n";
}

std::string render(const HeatMap& map) {
  const double row_h = 16, label_w = 190;
  const double height = kTop + row_h * static_cast<double>(map.row_labels.size()) + 52;
  const double cols = static_cast<double>(std::max<size_t>(1, map.column_values.size()));
  const double cell_w = (kWidth - label_w - 20) / cols;
  std::string svg = header(map.title, height);
  for (size_t r = 0; r < map.row_labels.size(); ++r) {
    const double y = kTop + row_h * static_cast<double>(r);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"10\">{}</text>\n", label_w - 6, y + 12,
                       escape(map.row_labels[r]));
    for (size_t c = 0; c < map.column_values.size() && c < map.cells[r].size(); ++c) {
      const double v = std::sqrt(std::clamp(map.cells[r][c], 0.0, 1.0));
      auto mix = [v](double dark) { return static_cast<int>(std::lround(255 + (dark - 255) * v)); };
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"rgb({},{},{})\">"
                         "<title>{}: {:.3g}</title></rect>\n",
                         label_w + cell_w * static_cast<double>(c), y, cell_w + 0.5, row_h - 1, mix(140), mix(0), mix(0),
                         escape(map.row_labels[r]), map.cells[r][c]);
    }
  }
  const double axis_y = kTop + row_h * static_cast<double>(map.row_labels.size()) + 14;
  const size_t every = std::max<size_t>(1, map.column_values.size() / 8);
  for (size_t c = 0; c < map.column_values.size(); c += every)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{}</text>\n",
                       label_w + cell_w * (static_cast<double>(c) + 0.5), axis_y, number(map.column_values[c]));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} (white 0, dark red 1, shade ~ square root)</text>\n",
                     label_w + (kWidth - label_w) / 2, axis_y + 22, escape(map.x_label));
  return svg + "</svg>\n";
}

std::string render(const StackedBars& bars) {
  Range yr;
  yr.add(0);
  for (const auto& group : bars.values) {
    double total = 0;
    for (double v : group) total += v;
    yr.add(total);
  }
  yr.widen();
  auto py = [&](double y) { return kTop + kPlotH - y / yr.hi * kPlotH; };
  const double slot = kPlotW / static_cast<double>(std::max<size_t>(1, bars.groups.size()));
  constexpr double kLabelRoom = 90;  // below the plot, for the slanted group names
  std::string svg = header(bars.title, kHeight + kLabelRoom);
  for (double t : nice_ticks(0, yr.hi))
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#eee\"/><text x=\"{3}\" y=\"{4}\" "
                       "text-anchor=\"end\">{5}</text>\n",
                       kLeft, kLeft + kPlotW, py(t), kLeft - 6, py(t) + 4, number(t));
  for (size_t g = 0; g < bars.groups.size(); ++g) {
    double base = 0;
    const double x = kLeft + slot * (static_cast<double>(g) + 0.2);
    for (size_t c = 0; c < bars.categories.size() && c < bars.values[g].size(); ++c) {
      const double v = bars.values[g][c];
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
                         "<title>{} {}: {}</title></rect>\n",
                         x, py(base + v), slot * 0.6, py(base) - py(base + v), colour(c), escape(bars.groups[g]),
                         escape(bars.categories[c]), number(v));
      base += v;
    }
    // Slanted, so that many runs' names do not run into each other.
    const double lx = x + slot * 0.3, ly = kTop + kPlotH + 14;
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-35 {:.1f} {})\">{}</text>\n",
                       lx, ly, lx, ly, escape(bars.groups[g]));
  }
  for (size_t c = 0; c < bars.categories.size(); ++c) {
    const double ly = kTop + 10 + 18 * static_cast<double>(c);
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                       kLeft + kPlotW + 12, ly - 5, colour(c), kLeft + kPlotW + 32, ly + 4, escape(bars.categories[c]));
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", kLeft, kTop,
                     kPlotW, kPlotH);
  return svg + axis_labels("", bars.y_label) + "</svg>\n";
}

}  // namespace mantissa::precision::report
