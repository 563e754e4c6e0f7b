#include "examples/llm/data.h"

#include <cmath>
#include <fstream>
#include <sstream>

namespace mantissa::llm {

std::filesystem::path resolve_data_path(const std::string& flag, const std::string& relative) {
  const std::filesystem::path path = flag.empty() ? default_data_dir() / relative : std::filesystem::path(flag);
  MANTISSA_CHECK(std::filesystem::exists(path), "data",
                 "{} does not exist. Pass --data PATH, set MANTISSA_DATA_DIR to a folder holding {}, or "
                 "fetch the data with scripts/get_data.sh (needs network access)",
                 path.string(), relative);
  return path;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MANTISSA_CHECK(in.good(), "data", "cannot open {}", path.string());
  std::ostringstream s;
  s << in.rdbuf();
  MANTISSA_CHECK(!in.bad(), "data", "error reading {}", path.string());
  return s.str();
}

TokenSplits encode_splits(const std::string& text, const Tokenizer& tokenizer, double train_fraction) {
  auto is_lead = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; };
  int64_t characters = 0;
  for (char c : text) characters += is_lead(c);
  const int64_t cut = static_cast<int64_t>(static_cast<double>(characters) * train_fraction);
  size_t byte = 0;
  for (int64_t seen = 0; byte < text.size(); ++byte) {
    if (is_lead(text[byte]) && seen++ == cut) break;
  }
  return {tokenizer.encode(std::string_view(text).substr(0, byte)), tokenizer.encode(std::string_view(text).substr(byte))};
}

Batch sample_batch(const std::vector<int32_t>& data, int64_t batch_size, int64_t block_size, Generator& generator,
                   Device device) {
  const int64_t starts = static_cast<int64_t>(data.size()) - block_size;
  MANTISSA_CHECK(starts > 0, "sample_batch", "{} tokens are too few for windows of {} + 1", data.size(), block_size);
  const std::vector<double> u = raw::rand({batch_size}, TensorOptions{}.with_dtype(DType::f64), &generator).to_vector<double>();
  std::vector<int64_t> x(static_cast<size_t>(batch_size * block_size)), y(x.size());
  for (int64_t b = 0; b < batch_size; ++b) {
    const int64_t i = std::min(starts - 1, static_cast<int64_t>(std::floor(u[b] * static_cast<double>(starts))));
    for (int64_t t = 0; t < block_size; ++t) {
      x[b * block_size + t] = data[i + t];
      y[b * block_size + t] = data[i + t + 1];
    }
  }
  return {from_vector(x, {batch_size, block_size}, device), from_vector(y, {batch_size, block_size}, device)};
}

}  // namespace mantissa::llm
