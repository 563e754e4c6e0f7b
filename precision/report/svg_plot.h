#pragma once
// Small, dependency-free SVG charts for the precision report (it must open offline, so
// no JavaScript plotting library): line charts with a legend, a heat map and stacked bars.
#include <string>
#include <vector>

namespace mantissa::precision::report {

struct Series {
  std::string label;
  std::vector<double> x, y;
  size_t colour = 0;  // palette index: the report gives each run one colour in every chart
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;  // base-10 axis; non-positive values are left out
};
std::string render(const LineChart& chart);

// rows x columns of fractions in [0, 1], drawn white (0) to dark red (1) with the shade
// proportional to the square root, so that a few percent is already visible.
struct HeatMap {
  std::string title, x_label;
  std::vector<std::string> row_labels;
  std::vector<double> column_values;     // e.g. steps
  std::vector<std::vector<double>> cells;  // [row][column]
};
std::string render(const HeatMap& map);

// One stacked bar per group, one segment per category.
struct StackedBars {
  std::string title, y_label;
  std::vector<std::string> groups, categories;
  std::vector<std::vector<double>> values;  // [group][category]
};
std::string render(const StackedBars& bars);

// Escapes text for HTML/SVG content.
std::string escape(const std::string& text);

}  // namespace mantissa::precision::report
