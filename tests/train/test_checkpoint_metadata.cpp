// training::parse_checkpoint_metadata: a checkpoint's own metadata entries are parsed strictly
// and refused by entry when malformed, before any tensor is touched.
#include <gtest/gtest.h>

#include <mantissa/train/checkpoint_metadata.h>
#include "support/expect_error.h"

using namespace mantissa;
using training::parse_checkpoint_metadata;

namespace {

std::map<std::string, std::string> valid() {
  return {{"format", "mantissa-checkpoint/1"},
          {"random_streams", R"({"data": ["18446744073709551615", "12"]})"},
          {"aliases", R"({"model.lm_head.weight": "model.wte.weight"})"},
          {"digests", R"({"algorithm": "crc32c", "metadata": "0a1b2c3d", "tensors": {"model.w": "ffffffff"}})"},
          {"user.step", "7"},
          {"other", "kept out of the caller's entries"}};
}

std::map<std::string, std::string> with(const std::string& key, const std::string& value) {
  auto m = valid();
  m[key] = value;
  return m;
}

}  // namespace

TEST(CheckpointMetadata, AWellFormedEntrySetParsesExactly) {
  const training::CheckpointMetadata m = parse_checkpoint_metadata(valid(), "c.safetensors");
  ASSERT_EQ(m.random_streams.count("data"), 1u);
  EXPECT_EQ(m.random_streams.at("data").seed, 18446744073709551615ull);  // 2^64 - 1, beyond a double
  EXPECT_EQ(m.random_streams.at("data").offset, 12u);
  ASSERT_EQ(m.aliases.size(), 1u);
  EXPECT_EQ(m.aliases[0].first, "model.lm_head.weight");
  EXPECT_EQ(m.aliases[0].second, "model.wte.weight");
  ASSERT_TRUE(m.digests.has_value());
  EXPECT_EQ(m.digests->metadata, "0a1b2c3d");
  EXPECT_EQ(m.digests->tensors.at("model.w"), "ffffffff");
  EXPECT_EQ(m.user, (training::Metadata{{"step", "7"}}));

  auto without_digests = valid();
  without_digests.erase("digests");  // files written before digests existed
  EXPECT_FALSE(parse_checkpoint_metadata(without_digests, "c.safetensors").digests.has_value());
}

// Each was read without a word before: "-1" by std::stoull as 2^64 - 1, a number too large by
// wrapping, an alias outside the model as a model tensor named after its tail.
TEST(CheckpointMetadata, MalformedEntriesAreRefusedByName) {
  const std::string path = "c.safetensors";
  const auto refused = [&](const std::map<std::string, std::string>& m, std::initializer_list<std::string> parts) {
    expect_error([&] { parse_checkpoint_metadata(m, path); }, parts);
    expect_error([&] { parse_checkpoint_metadata(m, path); }, {path});
  };
  refused(with("format", "mantissa-checkpoint/2"), {"format 'mantissa-checkpoint/2'"});
  refused(with("random_streams", R"({"data": ["-1", "0"]})"), {"'data' seed", "decimal 64-bit integer", "\"-1\""});
  refused(with("random_streams", R"({"data": ["18446744073709551616", "0"]})"), {"'data' seed"});
  refused(with("random_streams", R"({"data": ["1", " 2"]})"), {"'data' offset"});
  refused(with("random_streams", R"({"data": [1, 2]})"), {"'data' seed", "in a string"});
  refused(with("random_streams", R"({"data": ["1"]})"), {"must be [seed, offset]"});
  refused(with("random_streams", "[]"), {"'random_streams' must be a JSON object"});
  refused(with("random_streams", "{"), {"'random_streams' is not valid JSON"});
  refused(with("aliases", R"({"optim.adamw.step": "model.wte.weight"})"), {"alias 'optim.adamw.step'"});
  refused(with("aliases", R"({"model.lm_head.weight": "precision.scale"})"), {"must name two model tensors"});
  refused(with("aliases", R"({"model.": "model.wte.weight"})"), {"alias 'model.'"});
  refused(with("digests", R"({"algorithm": "md5", "metadata": "0a1b2c3d", "tensors": {}})"), {"algorithm \"md5\""});
  refused(with("digests", R"({"algorithm": "crc32c", "metadata": "0A1B2C3D", "tensors": {}})"), {"not a CRC-32C"});
  refused(with("digests", R"({"algorithm": "crc32c", "metadata": "0a1b2c3d", "tensors": {"w": 5}})"),
          {"tensor 'w'", "not a CRC-32C"});
  refused(with("digests", R"({"algorithm": "crc32c", "tensors": {}})"), {"no 'metadata'"});
  auto no_aliases = valid();
  no_aliases.erase("aliases");
  refused(no_aliases, {"no 'aliases'", "not a mantissa training checkpoint"});
}
