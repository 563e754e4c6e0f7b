// safetensors files: every dtype round trips bit for bit, the bytes of a small file are pinned,
// files from Python load here and files from here load in Python, corrupted files are refused
// with a reason, and a failed write leaves the previous file as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include <mantissa/core/error.h>
#include <mantissa/core/io/atomic_file.h>
#include <mantissa/core/io/safetensors.h>
#include <mantissa/core/ops.h>
#include "support/expect_error.h"

using namespace mantissa;
namespace fs = std::filesystem;

namespace {

const std::string kSafetensorsDir = std::string(MANTISSA_TEST_DATA_DIR) + "/core/safetensors";
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// A tensor of T holding these bit patterns (the low sizeof(T) bytes of each).
template <typename T>
Tensor from_bits(const std::vector<uint64_t>& bits, const Shape& shape) {
  std::vector<T> values(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) std::memcpy(&values[i], &bits[i], sizeof(T));
  return raw::from_vector(values, shape);
}

// The elements in row-major order as bytes, for comparisons that must be bit-exact (NaN
// payloads and signed zeros included).
std::vector<uint8_t> element_bytes(const Tensor& t) {
  return visit_dtype(t.dtype(), [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool>) {
      return raw::cast(t, DType::u8).to_vector<uint8_t>();
    } else {
      const std::vector<T> values = t.to_vector<T>();
      std::vector<uint8_t> bytes(values.size() * sizeof(T));
      if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
      return bytes;
    }
  });
}

// One tensor of make_python_file.py, with the values that script writes. Every value is exact
// in its dtype, so comparing doubles (or int64s) compares the stored elements.
struct PythonTensor {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<double> floats;     // floating dtypes
  std::vector<int64_t> integers;  // integral dtypes and bool
};

// make_python_file.py's TENSORS, in its order; keep the two in step.
std::vector<PythonTensor> python_tensors() {
  const double f64_min_subnormal = std::numeric_limits<double>::denorm_min();
  return {
      {"f64", DType::f64, {2, 2}, {0.1, -0.0, f64_min_subnormal, -kInf}, {}},
      {"f32", DType::f32, {4}, {1.0, -3.5, std::ldexp(1.0, -149), kNaN}, {}},
      {"f16", DType::f16, {2, 3}, {65504.0, -std::ldexp(1.0, -24), 0.5, kInf, 0.333251953125, -0.0}, {}},
      {"bf16", DType::bf16, {4}, {1.0, -2.5, std::ldexp(1.0, -133), std::ldexp(255.0, 120)}, {}},
      {"f8_e4m3", DType::f8_e4m3, {4}, {448.0, -std::ldexp(1.0, -9), 1.75, kNaN}, {}},
      {"f8_e5m2", DType::f8_e5m2, {2, 2}, {57344.0, -std::ldexp(1.0, -16), kInf, 0.75}, {}},
      {"i64",
       DType::i64,
       {3},
       {},
       {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), -1}},
      {"i32_scalar", DType::i32, {}, {}, {-123456789}},
      {"u8", DType::u8, {3}, {}, {0, 255, 7}},
      {"bool", DType::boolean, {3}, {}, {1, 0, 1}},
      {"empty", DType::f32, {2, 0}, {}, {}},
  };
}
const std::map<std::string, std::string> kPythonMetadata = {{"note", "π ≈ 3.14159"}};

Tensor make_tensor(const PythonTensor& expected) {
  // fp8 casts saturate by default (docs/architecture.md); e5m2's infinity must stay one.
  if (is_floating(expected.dtype))
    return raw::cast_scaled(raw::from_vector(expected.floats, expected.shape), expected.dtype, 1.0f, nullptr,
                            /*saturate=*/false);
  return raw::cast(raw::from_vector(expected.integers, expected.shape), expected.dtype);
}

void expect_values(const Tensor& t, const PythonTensor& expected) {
  SCOPED_TRACE(expected.name);
  EXPECT_EQ(t.dtype(), expected.dtype);
  EXPECT_EQ(t.sizes(), expected.shape);
  if (!is_floating(expected.dtype)) {
    EXPECT_EQ(t.to_vector<int64_t>(), expected.integers);
    return;
  }
  const std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), expected.floats.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(expected.floats[i]))
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << " = " << got[i];
    else
      EXPECT_EQ(std::bit_cast<uint64_t>(got[i]), std::bit_cast<uint64_t>(expected.floats[i]))
          << "element " << i << " = " << got[i] << ", expected " << expected.floats[i];
  }
}

// Each test gets a directory of its own, removed afterwards.
class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           fmt::format("mantissa_{}_{}_{}", test->test_suite_name(), test->name(), ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> files_in_dir() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};
using SafetensorsInterop = Safetensors;
using SafetensorsCorrupt = Safetensors;
using SafetensorsAtomicWrite = Safetensors;

}  // namespace

TEST_F(Safetensors, EveryDtypeRoundTripsBitExact) {
  using Limits = std::numeric_limits<int64_t>;
  // Per float format: one, negative zero, smallest subnormal, largest finite, a negative
  // infinity (or largest negative for e4m3, which has none) and a NaN with a payload.
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f64", from_bits<double>({0x3FF0000000000000, 0x8000000000000000, 0x1, 0x7FEFFFFFFFFFFFFF,
                                 0xFFF0000000000000, 0x7FF8000000000123},
                                {2, 3})},
      {"f32", from_bits<float>({0x3F800000, 0x80000000, 0x1, 0x7F7FFFFF, 0xFF800000, 0x7FC00123}, {6})},
      {"f16", from_bits<Half>({0x3C00, 0x8000, 0x1, 0x7BFF, 0xFC00, 0x7E01}, {3, 2})},
      {"bf16", from_bits<BFloat16>({0x3F80, 0x8000, 0x1, 0x7F7F, 0xFF80, 0x7FC1}, {6})},
      {"f8_e4m3", from_bits<Float8E4M3>({0x38, 0x80, 0x1, 0x7E, 0xFE, 0x7F}, {6})},
      {"f8_e5m2", from_bits<Float8E5M2>({0x3C, 0x80, 0x1, 0x7B, 0xFC, 0x7E}, {2, 3})},
      {"i64", raw::from_vector<int64_t>({Limits::min(), -1, 0, Limits::max()}, {4})},
      {"i32", raw::from_vector<int32_t>({std::numeric_limits<int32_t>::min(), -1, 0, 1 << 30}, {2, 2})},
      {"u8", raw::from_vector<uint8_t>({0, 1, 128, 255}, {4})},
      {"bool", raw::from_vector<bool>({true, false, false, true}, {4})},
      // A transposed view (strides [1, 3]) and a narrowed one (offset 2) are written as their
      // elements in row-major order.
      {"transposed", raw::transpose(raw::reshape(raw::arange(0, 6, 1, {DType::f32}), {2, 3}), 0, 1)},
      {"narrowed", raw::narrow(raw::arange(0, 8, 1, {DType::i64}), 0, 2, 5)},
      {"scalar", raw::scalar_tensor(-7.25, DType::f64)},
      {"empty", raw::zeros({0, 3}, {DType::bf16})},
  };
  ASSERT_FALSE(tensors[10].second.is_contiguous());
  ASSERT_EQ(tensors[11].second.offset(), 2);
  const std::map<std::string, std::string> metadata = {{"format", "mantissa"}, {"step", "12"}, {"", "π"}};

  const std::string path = file("all.safetensors");
  io::save_safetensors(path, tensors, metadata);
  const io::NamedTensors loaded = io::load_safetensors(path);

  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, original] = tensors[i];
    const auto& [loaded_name, t] = loaded.tensors[i];
    SCOPED_TRACE(name);
    EXPECT_EQ(loaded_name, name);  // file order is the order given
    EXPECT_EQ(t.dtype(), original.dtype());
    EXPECT_EQ(t.sizes(), original.sizes());
    EXPECT_TRUE(t.device().is_cpu());
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(element_bytes(t), element_bytes(original));
  }
  EXPECT_EQ(loaded.metadata, metadata);
  EXPECT_EQ(loaded.at("scalar").item(), -7.25);
  EXPECT_EQ(loaded.at("narrowed").to_vector<int64_t>(), (std::vector<int64_t>{2, 3, 4, 5, 6}));
}

TEST_F(Safetensors, ByteLayoutIsPinned) {
  // 142 bytes of JSON padded with 2 spaces to 144 = 0x90, then 8 bytes of f32 and 1 of u8.
  // Python's safetensors writes these exact bytes for the same tensors and metadata.
  const std::string expected = std::string("\x90\0\0\0\0\0\0\0", 8) +
                               R"({"__metadata__":{"format":"mantissa"},)"
                               R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}})"
                               "  " +
                               std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0\x07", 9);
  const std::string path = file("tiny.safetensors");
  io::save_safetensors(
      path, {{"w", raw::from_vector<float>({1.0f, -2.0f}, {2})}, {"b", raw::from_vector<uint8_t>({7}, {})}},
      {{"format", "mantissa"}});
  EXPECT_EQ(read_file(path), expected);

  // No tensors and no metadata: "{}" and six spaces, as the reference writes.
  io::save_safetensors(path, {});
  EXPECT_EQ(read_file(path), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  EXPECT_TRUE(io::load_safetensors(path).tensors.empty());
}

TEST_F(SafetensorsInterop, ReadsFileWrittenByPython) {
  const io::NamedTensors loaded = io::load_safetensors(kSafetensorsDir + "/from_python.safetensors");
  // The reference writer lays tensors out by descending dtype alignment, then by name; a
  // zero-byte tensor sorts before the one sharing its offset.
  const std::vector<std::string> file_order = {"i64", "f64",     "empty",   "f32", "i32_scalar", "bf16",
                                               "f16", "f8_e4m3", "f8_e5m2", "u8",  "bool"};
  std::vector<std::string> names;
  for (const auto& [name, t] : loaded.tensors) names.push_back(name);
  EXPECT_EQ(names, file_order);
  for (const PythonTensor& expected : python_tensors()) expect_values(loaded.at(expected.name), expected);
  EXPECT_EQ(loaded.metadata, kPythonMetadata);
}

TEST_F(SafetensorsInterop, FileWrittenHereLoadsInPython) {
  if (std::system("python3 -c 'import safetensors, numpy, ml_dtypes' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "needs a python3 that can import safetensors, numpy and ml_dtypes "
                    "(pip install safetensors numpy ml_dtypes)";
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const PythonTensor& expected : python_tensors()) {
    Tensor t = make_tensor(expected);
    expect_values(t, expected);  // the values are what the script expects before they are written
    // One tensor goes out as a non-contiguous view holding the same values.
    if (expected.name == "f16") t = raw::transpose(raw::contiguous(raw::transpose(t, 0, 1)), 0, 1);
    tensors.emplace_back(expected.name, t);
  }
  ASSERT_FALSE(tensors[2].second.is_contiguous());
  const std::string path = file("for_python.safetensors");
  io::save_safetensors(path, tensors, kPythonMetadata);
  const std::string command = fmt::format("python3 '{}/check_mantissa_file.py' '{}'", kSafetensorsDir, path);
  EXPECT_EQ(std::system(command.c_str()), 0) << command << " reported a mismatch (see its output above)";
}

TEST_F(SafetensorsCorrupt, EveryTruncationIsRefused) {
  const std::string path = file("cut.safetensors");
  io::save_safetensors(path, {{"a", raw::ones({2, 2})}, {"b", raw::zeros({3}, {DType::i32})}});
  const std::string valid = read_file(path);
  uint64_t header_size = 0;
  std::memcpy(&header_size, valid.data(), 8);
  const uint64_t data_start = 8 + header_size;
  ASSERT_EQ(valid.size(), data_start + 16 + 12);
  const std::vector<std::pair<size_t, std::string>> cuts = {{0, "too short"},
                                                            {5, "too short"},
                                                            {8, "past the end"},
                                                            {8 + 10, "past the end"},
                                                            {data_start - 1, "past the end"},
                                                            {data_start, "truncated"},
                                                            {data_start + 7, "truncated"},
                                                            {valid.size() - 1, "truncated"}};
  for (const auto& [size, reason] : cuts) {
    SCOPED_TRACE(fmt::format("cut to {} of {} bytes", size, valid.size()));
    write_file(path, valid.substr(0, size));
    expect_error([&] { io::load_safetensors(path); }, {"load_safetensors", path, reason});
  }
  write_file(path, valid);
  EXPECT_EQ(io::load_safetensors(path).tensors.size(), 2u);
}

TEST_F(SafetensorsCorrupt, EveryMalformedHeaderIsRefused) {
  const std::string data(24, '\x01');
  auto with_header = [&](const std::string& header) { return u64_le(header.size()) + header + data; };
  // A valid file is {a: f32[2, 2] at [0, 16), b: i32[2] at [16, 24)}; most cases change one entry.
  const std::string a = R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
  const std::string b = R"("b":{"dtype":"I32","shape":[2],"data_offsets":[16,24]})";
  auto a_is = [&](const std::string& entry) { return with_header(R"({"a":)" + entry + "," + b + "}"); };
  auto b_is = [&](const std::string& entry) { return with_header("{" + a + R"(,"b":)" + entry + "}"); };
  auto with_metadata = [&](const std::string& m) {
    return with_header(R"({"__metadata__":)" + m + "," + a + "," + b + "}");
  };
  const std::string bool_header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})";

  struct Case {
    std::string what, bytes, reason;
  };
  const std::vector<Case> cases = {
      {"header length beyond 100 MB", u64_le(100'000'001) + "{}", "limit"},
      {"header length 2^63", u64_le(uint64_t{1} << 63) + "{}", "limit"},
      {"header length 0", u64_le(0) + data, "not valid JSON"},
      {"unfinished JSON", with_header("{" + a + ","), "not valid JSON"},
      {"invalid UTF-8", with_header("{\"\xff\":1}"), "UTF-8"},
      {"header not an object", with_header("[1,2]"), "not an object"},
      {"entry not an object", a_is("5"), "must be an object"},
      {"missing dtype", a_is(R"({"shape":[2,2],"data_offsets":[0,16]})"), "no \"dtype\""},
      {"missing shape", a_is(R"({"dtype":"F32","data_offsets":[0,16]})"), "no \"shape\""},
      {"missing data_offsets", a_is(R"({"dtype":"F32","shape":[4]})"), "no \"data_offsets\""},
      {"dtype not a string", a_is(R"({"dtype":1,"shape":[4],"data_offsets":[0,16]})"),
       "dtype must be a string"},
      {"unknown dtype", a_is(R"({"dtype":"U16","shape":[8],"data_offsets":[0,16]})"),
       "'U16', which mantissa"},
      {"shape not an array", a_is(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"), "must be an array"},
      {"negative dimension", a_is(R"({"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]})"),
       "negative dim"},
      {"fractional dimension", a_is(R"({"dtype":"F32","shape":[2.0,2],"data_offsets":[0,16]})"), "integer"},
      {"element count overflow",
       a_is(R"({"dtype":"F32","shape":[2,9223372036854775807],"data_offsets":[0,16]})"), "overflows"},
      {"byte count overflow", a_is(R"({"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]})"),
       "overflows"},
      {"offsets not a pair", a_is(R"({"dtype":"F32","shape":[4],"data_offsets":[0]})"), "[begin, end]"},
      {"negative offset", a_is(R"({"dtype":"F32","shape":[0],"data_offsets":[-1,-1]})"),
       "negative data offset"},
      {"offsets reversed", a_is(R"({"dtype":"F32","shape":[4],"data_offsets":[16,0]})"),
       "end before they begin"},
      {"shape does not match bytes", a_is(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,16]})"),
       "needs 24 bytes"},
      {"overlapping tensors", b_is(R"({"dtype":"I32","shape":[2],"data_offsets":[8,16]})"), "overlaps"},
      {"gap between tensors", b_is(R"({"dtype":"I32","shape":[1],"data_offsets":[20,24]})"), "gap"},
      {"offsets past the data", b_is(R"({"dtype":"I32","shape":[4],"data_offsets":[16,32]})"), "truncated"},
      {"trailing garbage", with_header("{" + a + "," + b + "}") + "junk", "4 trailing bytes"},
      {"tensor named twice", with_header("{" + a + "," + a + "," + b + "}"), "repeats the key 'a'"},
      {"field named twice", a_is(R"({"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]})"),
       "repeats the key 'dtype'"},
      {"metadata not an object", with_metadata(R"(["x"])"), "must be an object"},
      {"metadata value not a string", with_metadata(R"({"step":12})"), "metadata value of 'step'"},
      {"deep nesting", with_metadata(std::string(100, '[') + std::string(100, ']')), "nests deeper"},
      {"bool byte other than 0 or 1",
       u64_le(bool_header.size()) + bool_header + std::string("\x01\x00\x02", 3), "holds the byte 2"},
  };
  const std::string path = file("bad.safetensors");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    write_file(path, c.bytes);
    expect_error([&] { io::load_safetensors(path); }, {"load_safetensors", path, c.reason});
  }
  // The same header without the corruption loads, so each case fails for its own reason.
  write_file(path, with_header("{" + a + "," + b + "}"));
  EXPECT_EQ(io::load_safetensors(path).tensors.size(), 2u);
  expect_error([&] { io::load_safetensors(file("missing.safetensors")); }, {file("missing.safetensors")});
}

TEST_F(Safetensors, AcceptsWhatTheReferenceAccepts) {
  const std::string path = file("lenient.safetensors");
  // Tensors listed out of offset order, whitespace around the JSON, null metadata, unknown
  // fields, and zero-byte tensors sharing an offset: all valid for the reference reader.
  const std::string header = R"( {"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]},"__metadata__":null,)"
                             R"("z":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4],"extra":[1]},)"
                             R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})"
                             "\t\n";
  write_file(path, u64_le(header.size()) + header + std::string("\x00\x00\x80\x3f\x05\x00\x00\x00", 8));
  const io::NamedTensors loaded = io::load_safetensors(path);
  ASSERT_EQ(loaded.tensors.size(), 3u);
  EXPECT_EQ(loaded.tensors[0].first, "a");
  EXPECT_EQ(loaded.tensors[1].first, "z");  // zero bytes at offset 4 sort before b's [4, 8)
  EXPECT_EQ(loaded.tensors[2].first, "b");
  EXPECT_EQ(loaded.at("a").item(), 1.0);
  EXPECT_EQ(loaded.at("b").item(), 5.0);
  EXPECT_EQ(loaded.at("z").sizes(), (Shape{0, 5}));
  EXPECT_TRUE(loaded.metadata.empty());
  expect_error([&] { loaded.at("nope"); }, {"NamedTensors::at", "'nope'", "a, z, b"});
}

TEST_F(Safetensors, SaveRefusesBadInput) {
  const std::string path = file("refused.safetensors");
  const Tensor t = raw::ones({2});
  expect_error(
      [&] {
        io::save_safetensors(path, {{"x", t}, {"x", t}});
      },
      {"save_safetensors", path, "'x' appears twice"});
  expect_error(
      [&] {
        io::save_safetensors(path, {{"__metadata__", t}});
      },
      {"save_safetensors", "names the metadata"});
  expect_error(
      [&] {
        io::save_safetensors(path, {{"x", Tensor()}});
      },
      {"save_safetensors", "'x' is undefined"});
  expect_error([&] { io::save_safetensors(path, {{"\xff", t}}); }, {"save_safetensors", "UTF-8"});
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(SafetensorsAtomicWrite, FailedWriteLeavesOldFileUntouched) {
  const std::string path = file("model.safetensors");
  io::save_safetensors(path, {{"w", raw::arange(0, 10, 1)}}, {{"step", "1"}});
  const std::string old_bytes = read_file(path);

  // A writer that fails halfway: the temporary file had bytes in it when it was abandoned.
  auto fail_halfway = [](std::ostream& out) {
    out << std::string(100000, 'x');
    throw std::runtime_error("serialiser failed");
  };
  EXPECT_THROW(io::write_file_atomically(path, fail_halfway), std::runtime_error);
  EXPECT_EQ(read_file(path), old_bytes);
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"model.safetensors"});

  // A tensor that cannot be saved, after one that can.
  EXPECT_THROW(io::save_safetensors(path, {{"w", raw::ones({3})}, {"bad", Tensor()}}), Error);
  EXPECT_EQ(read_file(path), old_bytes);
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"model.safetensors"});

  // A successful write replaces the file and leaves nothing else behind.
  io::save_safetensors(path, {{"w", raw::ones({3})}});
  EXPECT_NE(read_file(path), old_bytes);
  EXPECT_EQ(io::load_safetensors(path).at("w").to_vector<float>(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(SafetensorsAtomicWrite, MissingDirectoryIsAClearError) {
  const std::string path = file("no/such/dir/model.safetensors");
  expect_error(
      [&] {
        io::save_safetensors(path, {{"w", raw::ones({3})}});
      },
      {"write_file_atomically", path, std::strerror(ENOENT)});
  expect_error([&] { io::write_file_atomically(path, [](std::ostream&) {}); }, {path, "temporary file"});
}
