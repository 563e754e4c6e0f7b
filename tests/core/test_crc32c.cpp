// CRC-32C against published check values: the catalogue's "123456789" (Greg Cook's CRC
// catalogue, CRC-32/ISCSI) and the 32-byte vectors of RFC 3720 appendix B.4.
#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include <mantissa/core/io/crc32c.h>

using mantissa::io::crc32c;

TEST(Crc32c, MatchesThePublishedCheckValues) {
  const std::string digits = "123456789";
  EXPECT_EQ(crc32c(digits.data(), digits.size()), 0xE3069283u);
  const std::vector<unsigned char> zeros(32, 0x00), ones(32, 0xFF);
  std::vector<unsigned char> ascending(32), descending(32);
  std::iota(ascending.begin(), ascending.end(), 0);
  for (int i = 0; i < 32; ++i) descending[i] = static_cast<unsigned char>(31 - i);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending.data(), descending.size()), 0x113FDB5Cu);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

// A digest continued over pieces (at every split, odd ones included) is the digest of the whole.
TEST(Crc32c, ContinuesOverPieces) {
  std::vector<unsigned char> bytes(37);
  std::iota(bytes.begin(), bytes.end(), 7);
  const uint32_t whole = crc32c(bytes.data(), bytes.size());
  for (size_t split = 0; split <= bytes.size(); ++split)
    EXPECT_EQ(crc32c(bytes.data() + split, bytes.size() - split, crc32c(bytes.data(), split)), whole) << split;
}
