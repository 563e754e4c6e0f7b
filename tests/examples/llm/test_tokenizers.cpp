// The LLM example's tokenizers: nanoGPT's character vocabulary and GPT-2's byte-level BPE. The
// GPT-2 ids come from two independent encoders of the same files (make_bpe_expectations.py says
// which); tests that need ../shared/data skip, saying so, where it is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <mantissa/core/error.h>
#include "examples/llm/bpe_tokenizer.h"
#include "examples/llm/char_tokenizer.h"
#include "examples/llm/utf8.h"
#include "support/expect_error.h"

using namespace mantissa;
using namespace mantissa::llm;
namespace fs = std::filesystem;

namespace {

// The shared data sets: $MANTISSA_DATA_DIR when set, else the project's ../shared/data.
fs::path data_dir() {
  const char* override_dir = std::getenv("MANTISSA_DATA_DIR");
  return override_dir && *override_dir ? fs::path(override_dir) : fs::path(MANTISSA_SHARED_DATA_DIR);
}

#define SKIP_UNLESS_EXISTS(path) \
  if (!fs::exists(path)) GTEST_SKIP() << (path) << " is absent (no shared data; set MANTISSA_DATA_DIR)"

fs::path shakespeare_path() { return data_dir() / "tinyshakespeare" / "input.txt"; }
fs::path gpt2_dir() { return data_dir() / "gpt2-bpe"; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

void write_file(const fs::path& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// A fresh folder under the system's temporary directory, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            (std::string("mantissa_") + test->test_suite_name() + "_" + test->name() + "_" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Random UTF-8 text drawn from code points that stress the pre-tokeniser: ASCII letters, digits,
// punctuation and white space, accented and non-Latin letters, combining marks, CJK, emoji with
// joiners and modifiers, and Unicode spaces.
std::string random_utf8(std::mt19937& rng, size_t length) {
  static const std::u32string pool =
      U"aZ09 '\n\t\r.,!?-_\"sdlmtrve\u00e9\u00df\u00f8\u0416\u03a9\u05d0\u0627\u0915\u094d\u0301\u0308"
      U"\u4e2d\u6587\u65e5\u3042\u30ab\ud55c\u00a0\u2009\u3000\u2028\u180e\u200b\u200d\U0001f600\U0001f44d"
      U"\U0001f3fd\U0001f1eb\u00bd\u2167\u0663";
  std::string text;
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  for (size_t i = 0; i < length; ++i) utf8::append(text, pool[pick(rng)]);
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CharTokenizer

TEST(CharTokenizer, VocabularyIsTheSortedDistinctCodePoints) {
  const CharTokenizer tokenizer = CharTokenizer::from_text("hello, wörld! ünïcode 日本");
  const std::u32string characters(tokenizer.characters().begin(), tokenizer.characters().end());
  EXPECT_EQ(characters, U" !,cdehlnorwïöü日本");  // code point order, one entry per character
  EXPECT_EQ(tokenizer.vocab_size(), 17);
  EXPECT_EQ(tokenizer.encode("hö日"), (std::vector<int32_t>{6, 13, 15}));
}

TEST(CharTokenizer, CombiningMarksAreCharactersOfTheirOwn) {
  // Python's str sees "é" precomposed as one character and "e" + U+0301 as two.
  const CharTokenizer tokenizer = CharTokenizer::from_text("\u00e9e\u0301");
  EXPECT_EQ(tokenizer.vocab_size(), 3);
  EXPECT_EQ(tokenizer.encode("e\u0301\u00e9"), (std::vector<int32_t>{0, 2, 1}));
}

TEST(CharTokenizer, RoundTripsUtf8) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const std::string text = random_utf8(rng, 1 + trial % 50);
    const CharTokenizer tokenizer = CharTokenizer::from_text(text);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
}

TEST(CharTokenizer, TinyShakespeareHas65Characters) {
  SKIP_UNLESS_EXISTS(shakespeare_path());
  const std::string text = read_file(shakespeare_path());
  const CharTokenizer tokenizer = CharTokenizer::from_text(text);
  // nanoGPT's shakespeare_char/prepare.py prints these 65 characters.
  std::string vocabulary;
  for (char32_t c : tokenizer.characters()) utf8::append(vocabulary, c);
  EXPECT_EQ(vocabulary, "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  const std::vector<int32_t> ids = tokenizer.encode(text);
  EXPECT_EQ(ids.size(), 1115394u);  // one id per character; the file is ASCII
  EXPECT_EQ(tokenizer.decode(ids), text);
}

TEST(CharTokenizer, UnknownCharacterIsAnErrorNamingItAndWhere) {
  const CharTokenizer tokenizer = CharTokenizer::from_text("ab é");
  expect_error([&] { tokenizer.encode("éé!"); }, {"CharTokenizer::encode", "'!' (U+0021)", "character 2",
                                                  "byte offset 4", "vocabulary of 4"});
  expect_error([&] { tokenizer.encode("a\n"); }, {"U+000A", "character 1", "byte offset 1"});
}

TEST(CharTokenizer, InvalidUtf8IsAnError) {
  expect_error([] { CharTokenizer::from_text("ok\xff"); },
               {"CharTokenizer::from_text", "0xFF", "byte offset 2"});
  const CharTokenizer tokenizer = CharTokenizer::from_text("abc");
  expect_error([&] { tokenizer.encode("a\xc3"); },
               {"CharTokenizer::encode", "0xC3", "byte offset 1", "UTF-8"});
  expect_error([&] { tokenizer.encode("\xed\xa0\x80"); }, {"0xED", "byte offset 0"});  // a surrogate
}

TEST(CharTokenizer, DecodeRejectsIdsOutsideTheVocabulary) {
  const CharTokenizer tokenizer = CharTokenizer::from_text("abc");
  expect_error([&] { tokenizer.decode(std::vector<int32_t>{0, 3}); },
               {"CharTokenizer::decode", "id 3 at position 1", "[0, 3)"});
  expect_error([&] { tokenizer.decode(std::vector<int32_t>{-1}); }, {"id -1 at position 0"});
}

TEST(CharTokenizer, VocabularyMustBeDistinctCharacters) {
  expect_error([] { CharTokenizer(std::vector<char32_t>{U'a', U'b', U'a'}); },
               {"CharTokenizer", "'a' (U+0061) appears twice", "ids 0 and 2"});
  expect_error([] { CharTokenizer(std::vector<char32_t>{0xD800}); },
               {"0xD800", "not a Unicode scalar value"});
  expect_error([] { CharTokenizer::from_text(""); }, {"vocabulary is empty"});
}

TEST(CharTokenizer, JsonRoundTripKeepsTheIdOrder) {
  // A vocabulary in an order other than sorted, with characters JSON must escape.
  const CharTokenizer original(
      std::vector<char32_t>{U'z', U'"', U'\\', U'\n', U'\u00e9', U'\U0001f600', U'a'});
  const std::string json = original.to_json();
  EXPECT_NE(json.find("\"type\":\"char\""), std::string::npos) << json;
  const CharTokenizer restored = CharTokenizer::from_json(json);
  EXPECT_EQ(restored.characters(), original.characters());
  const std::string text = "a\"z\n\\\u00e9\U0001f600";
  EXPECT_EQ(restored.encode(text), original.encode(text));
  EXPECT_EQ(restored.encode(text), (std::vector<int32_t>{6, 1, 0, 3, 2, 4, 5}));
}

TEST(CharTokenizer, MalformedJsonIsAnError) {
  expect_error([] { CharTokenizer::from_json("{not json"); }, {"CharTokenizer::from_json", "not JSON"});
  expect_error([] { CharTokenizer::from_json(R"({"type": "bpe", "characters": "ab"})"); },
               {"CharTokenizer::from_json", "\"type\": \"char\""});
  expect_error([] { CharTokenizer::from_json(R"([1, 2])"); }, {"\"type\": \"char\""});
  expect_error([] { CharTokenizer::from_json(R"({"type": "char", "characters": 5})"); },
               {"\"characters\" is missing or not a string"});
  expect_error([] { CharTokenizer::from_json(R"({"type": "char", "characters": "abca"})"); },
               {"appears twice"});
}

// ---------------------------------------------------------------------------------------------
// BpeTokenizer

namespace {

// GPT-2's tokenizer, loaded once for the tests that only encode and decode; null without the files.
const BpeTokenizer* gpt2() {
  static const std::unique_ptr<const BpeTokenizer> tokenizer =
      fs::exists(gpt2_dir()) ? std::make_unique<const BpeTokenizer>(BpeTokenizer::from_directory(gpt2_dir()))
                             : nullptr;
  return tokenizer.get();
}

#define SKIP_WITHOUT_GPT2() \
  if (!gpt2()) GTEST_SKIP() << gpt2_dir() << " is absent (no shared data; set MANTISSA_DATA_DIR)"

// Writes a small byte-level vocabulary: ids 0-255 the single bytes spelled in GPT-2's byte
// alphabet (restated here from encoder.py's bytes_to_unicode), then `extra` tokens, and the
// `merges` as the lines of vocab.bpe.
void write_vocabulary(const fs::path& dir, const std::vector<std::string>& extra,
                      const std::vector<std::string>& merges) {
  std::string encoder = "{";
  char32_t substitute = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    std::string spelling;
    utf8::append(spelling, printable ? static_cast<char32_t>(b) : substitute++);
    if (spelling == "\"" || spelling == "\\") spelling = "\\" + spelling;
    encoder += "\"" + spelling + "\": " + std::to_string(b) + ", ";
  }
  for (size_t i = 0; i < extra.size(); ++i)
    encoder += "\"" + extra[i] + "\": " + std::to_string(256 + i) + ", ";
  encoder.replace(encoder.size() - 2, 2, "}");
  write_file(dir / "encoder.json", encoder);
  std::string vocab = "#version: 0.2\n";
  for (const std::string& merge : merges) vocab += merge + "\n";
  write_file(dir / "vocab.bpe", vocab);
}

// FNV-1a (64-bit) over the ids as little-endian 32-bit integers, as make_bpe_expectations.py computes it.
uint64_t fingerprint(const std::vector<int32_t>& ids) {
  uint64_t hash = 0xCBF29CE484222325ull;
  for (int32_t id : ids)
    for (int shift = 0; shift < 32; shift += 8)
      hash = (hash ^ ((static_cast<uint32_t>(id) >> shift) & 0xFF)) * 0x100000001B3ull;
  return hash;
}

struct BpeCase {
  const char* label;
  std::string text;
  std::vector<int32_t> ids;
};

// Printed by make_bpe_expectations.py: GPT-2's algorithm in Python and Hugging Face tokenizers agree on all.
const BpeCase kBpeCases[] = {
    {"hello",
     "Hello world",
     {15496, 995}},
    {"shakespeare opening",
     "First Citizen:\nBefore we proceed any further, hear me speak.",
     {5962, 22307, 25, 198, 8421, 356, 5120, 597, 2252, 11, 3285, 502, 2740, 13}},
    {"contractions",
     "I'm sure you'll see they've done it; we'd say it's Bob's, isn't it?",
     {40, 1101, 1654, 345, 1183, 766, 484, 1053, 1760, 340, 26, 356, 1549, 910, 340, 338, 5811, 338, 11,
      2125, 470, 340, 30}},
    {"uppercase contractions are not special",
     "I'M HERE, DON'T GO, WE'LL",
     {40, 6, 44, 15698, 11, 23917, 6, 51, 10351, 11, 12887, 6, 3069}},
    {"whitespace runs",
     "  two leading,   three inside, tab\there\n\n\ntrailing   \n",
     {220, 734, 3756, 11, 220, 220, 1115, 2641, 11, 7400, 197, 1456, 628, 198, 9535, 4386, 220, 220, 220,
      198}},
    {"space before newline",
     "end of line \nnext line  \n  indented",
     {437, 286, 1627, 220, 198, 19545, 1627, 220, 220, 198, 220, 773, 4714}},
    {"digits",
     "In 1564, 23 April; pi = 3.14159265358979, 1000000007 and 2024-01-01.",
     {818, 1315, 2414, 11, 2242, 3035, 26, 31028, 796, 513, 13, 1415, 19707, 22980, 2327, 4531, 3720, 11,
      1802, 10535, 22, 290, 48609, 12, 486, 12, 486, 13}},
    {"punctuation runs",
     "Wait... what?!?! --> (yes) [no] {maybe} <|endoftext|> ##$$%%",
     {21321, 986, 644, 12248, 12248, 14610, 357, 8505, 8, 685, 3919, 60, 1391, 25991, 92, 1279, 91, 437,
      1659, 5239, 91, 29, 22492, 13702, 16626}},
    {"end of text is ordinary text",
     "<|endoftext|>",
     {27, 91, 437, 1659, 5239, 91, 29}},
    {"accents",
     "naïve café, façade, Ærøskøbing, São Paulo, Москва",
     {2616, 38776, 40304, 11, 24685, 16175, 671, 11, 6184, 228, 81, 24172, 8135, 24172, 4623, 11, 311,
      28749, 34410, 11, 12466, 250, 15166, 21727, 31583, 38857, 16142}},
    {"combining marks",
     "cafe\u0301 n\u0303 a\u0308\u0301 क\u094dष",
     {66, 8635, 136, 223, 299, 136, 225, 257, 136, 230, 136, 223, 28225, 243, 24231, 235, 11976, 115}},
    {"cjk",
     "日本語のテキストです。中文也可以，한국어도 됩니다",
     {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302, 30640, 33623, 16764, 40792, 23877,
      229, 20046, 253, 20998, 107, 20015, 98, 171, 120, 234, 47991, 250, 166, 113, 255, 168, 244, 112,
      167, 237, 226, 31619, 238, 102, 46695, 230, 46695, 97}},
    {"emoji",
     "emoji 🎉👍\U0001f3fd family 👨\u200d👩\u200d👧 flag 🇫🇷!",
     {368, 31370, 12520, 236, 231, 41840, 235, 8582, 237, 121, 1641, 50169, 101, 447, 235, 41840, 102,
      447, 235, 41840, 100, 6056, 12520, 229, 104, 8582, 229, 115, 0}},
    {"unicode spaces",
     "no\u00a0break, ideographic\u3000space, thin\u2009space, line\u2028sep",
     {3919, 1849, 9032, 11, 1405, 6826, 5099, 222, 13200, 11, 7888, 447, 231, 13200, 11, 1627, 447, 101,
      325, 79}},
    {"separators that are not white space",
     "a\u180eb x \u180eb y \u180e\u180ey c\u001cd \u001c\u001dz e\u0085f  \u0085g a \u200bb",
     {64, 157, 254, 236, 65, 2124, 28053, 254, 236, 65, 331, 28053, 254, 236, 157, 254, 236, 88, 269,
      216, 67, 220, 216, 217, 89, 304, 126, 227, 69, 220, 220, 126, 227, 70, 257, 20126, 65}},
    {"code",
     "def f(x):\n    return {'a': [1, 2]}  # comment\n",
     {4299, 277, 7, 87, 2599, 198, 220, 220, 220, 1441, 1391, 6, 64, 10354, 685, 16, 11, 362, 48999, 220,
      1303, 2912, 198}},
    {"long run of spaces",
     "                                        x",
     {220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220, 220,
      2124}},
    {"long run of letters",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     {24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 64}},
    {"long run of digits",
     "1111111111111111111111111",
     {26259, 26259, 26259, 26259, 26259, 1157, 16243}},
    {"long run of symbols",
     "!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?!?",
     {0, 12248, 12248, 12248, 12248, 12248, 12248, 12248, 12248, 12248, 12248, 12248, 12248, 12248,
      12248, 12248, 12248, 12248, 12248, 12248, 30}},
    {"random letters",
     "naltrneresttsmtolwdswemiatimadlnrteolsndhicuodrfuiwtscahelcdfnuddhmwhleulwmislehatecaosm"
     "thrfmmisnfwaaoohdiesndwurdlefcmcsstletoaneeatnemdainntmwhhttnimaewrarerw",
     {77, 282, 2213, 77, 1260, 912, 16762, 349, 16993, 2032, 368, 5375, 320, 324, 18755, 81, 660, 10220,
      358, 71, 291, 84, 375, 41871, 9019, 86, 912, 6888, 2978, 66, 7568, 77, 4185, 23940, 1929, 293,
      377, 26377, 20919, 37035, 6888, 418, 76, 400, 41871, 3020, 271, 77, 69, 10247, 5488, 1219, 25990,
      358, 86, 2799, 293, 69, 11215, 6359, 301, 293, 1462, 272, 1453, 265, 77, 368, 27162, 429, 76,
      1929, 2804, 77, 8083, 413, 430, 11751, 86}},
};

}  // namespace

TEST(BpeTokenizer, HelloWorld) {
  SKIP_WITHOUT_GPT2();
  EXPECT_EQ(gpt2()->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(gpt2()->vocab_size(), 50257);
  EXPECT_EQ(gpt2()->end_of_text(), 50256);
}

TEST(BpeTokenizer, MatchesReferenceIds) {
  SKIP_WITHOUT_GPT2();
  for (const BpeCase& c : kBpeCases) {
    EXPECT_EQ(gpt2()->encode(c.text), c.ids) << c.label;
    EXPECT_EQ(gpt2()->decode(c.ids), c.text) << c.label;
  }
}

TEST(BpeTokenizer, EndOfTextInTheTextIsOrdinaryText) {
  SKIP_WITHOUT_GPT2();
  // As in encoder.py (and tiktoken's encode_ordinary) the separator is only ever added by id;
  // the spelled-out string is seven ordinary tokens (kBpeCases has them).
  const std::vector<int32_t> ids = gpt2()->encode("<|endoftext|>");
  EXPECT_EQ(ids.size(), 7u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), gpt2()->end_of_text()), 0);
  EXPECT_EQ(gpt2()->decode(std::vector<int32_t>{gpt2()->end_of_text()}), "<|endoftext|>");
}

TEST(BpeTokenizer, RoundTripsUtf8) {
  SKIP_WITHOUT_GPT2();
  std::mt19937 rng(5);
  for (int trial = 0; trial < 2000; ++trial) {
    const std::string text = random_utf8(rng, trial % 80);
    ASSERT_EQ(gpt2()->decode(gpt2()->encode(text)), text) << "trial " << trial;
  }
}

TEST(BpeTokenizer, RoundTripsArbitraryBytes) {
  SKIP_WITHOUT_GPT2();
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes(trial % 64, '\0');
    for (char& b : bytes) b = static_cast<char>(byte(rng));
    ASSERT_EQ(gpt2()->decode(gpt2()->encode(bytes)), bytes) << "trial " << trial;
  }
  // Truncated, overlong, surrogate, out-of-range and stray continuation bytes.
  for (const std::string bytes :
       {"caf\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80\x80x", "\xff\xfe"})
    EXPECT_EQ(gpt2()->decode(gpt2()->encode(bytes)), bytes);
}

TEST(BpeTokenizer, InvalidUtf8SplitsTheText) {
  SKIP_WITHOUT_GPT2();
  // The valid runs on either side of an invalid byte are encoded as GPT-2 encodes them alone.
  const BpeTokenizer& gpt = *gpt2();
  std::vector<int32_t> expected = gpt.encode("Hello");
  for (const char* part : {"\xff", " world"}) {
    const std::vector<int32_t> ids = gpt.encode(part);
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(gpt.encode("Hello\xff world"), expected);
  EXPECT_EQ(gpt.encode("\xff").size(), 1u);  // a lone byte is its single-byte token
}

TEST(BpeTokenizer, LongPiecesRoundTrip) {
  SKIP_WITHOUT_GPT2();
  // Single pre-tokens of 200 KB: quadratic merging (encoder.py's) or regex backtracking over the
  // whole run would make this test take minutes.
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string letters(200000, ' ');
  for (char& c : letters) c = static_cast<char>(letter(rng));
  for (const std::string& text : {letters, std::string(200000, ' ') + "x", std::string(200000, '!')})
    EXPECT_EQ(gpt2()->decode(gpt2()->encode(text)), text);
}

TEST(BpeTokenizer, TinyShakespeareMatchesNanoGpt) {
  SKIP_WITHOUT_GPT2();
  SKIP_UNLESS_EXISTS(shakespeare_path());
  const std::string text = read_file(shakespeare_path());
  // nanoGPT's data/shakespeare/prepare.py: "train has 301,966 tokens, val has 36,059 tokens".
  const size_t split = text.size() * 9 / 10;  // int(n * 0.9) of an ASCII text
  EXPECT_EQ(gpt2()->encode(std::string_view(text).substr(0, split)).size(), 301966u);
  EXPECT_EQ(gpt2()->encode(std::string_view(text).substr(split)).size(), 36059u);
}

TEST(BpeTokenizer, TinyShakespeareWholeTextIdsAndRoundTrip) {
  SKIP_WITHOUT_GPT2();
  SKIP_UNLESS_EXISTS(shakespeare_path());
  const std::string text = read_file(shakespeare_path());
  const std::vector<int32_t> ids = gpt2()->encode(text);
  EXPECT_EQ(ids.size(), 338025u);
  EXPECT_EQ(fingerprint(ids), 0xE22FCD868CA90167ull);  // of every id, from make_bpe_expectations.py
  EXPECT_EQ(gpt2()->decode(ids), text);
}

TEST(BpeTokenizer, DecodeRejectsIdsOutsideTheVocabulary) {
  SKIP_WITHOUT_GPT2();
  expect_error([] { gpt2()->decode(std::vector<int32_t>{15496, 50257}); },
               {"BpeTokenizer::decode", "id 50257 at position 1", "[0, 50257)"});
  expect_error([] { gpt2()->decode(std::vector<int32_t>{-1}); }, {"id -1 at position 0"});
}

TEST(BpeTokenizer, MergesEveryOccurrenceBeforeTheNextRank) {
  // vocab.bpe ranks "ab a" above "a b". encoder.py merges every "a b" in "abab" before it looks
  // for the next pair, giving [ab, ab]; merging greedily one pair at a time would give [aba, b].
  TempDir dir;
  write_vocabulary(dir.path(), {"ab", "aba"}, {"ab a", "a b"});
  const BpeTokenizer tokenizer = BpeTokenizer::from_directory(dir.path());
  EXPECT_EQ(tokenizer.encode("abab"), (std::vector<int32_t>{256, 256}));
  EXPECT_EQ(tokenizer.encode("aba"), (std::vector<int32_t>{257}));
}

TEST(BpeTokenizer, OverlappingOccurrencesMergeLeftToRight) {
  TempDir dir;
  write_vocabulary(dir.path(), {"aa", "aaaa"}, {"a a", "aa aa"});
  const BpeTokenizer tokenizer = BpeTokenizer::from_directory(dir.path());
  EXPECT_EQ(tokenizer.encode("aaa"), (std::vector<int32_t>{256, 'a'}));
  EXPECT_EQ(tokenizer.encode("aaaaa"), (std::vector<int32_t>{257, 'a'}));
  EXPECT_EQ(tokenizer.encode("ba"), (std::vector<int32_t>{'b', 'a'}));  // no merge for the pair
  EXPECT_EQ(tokenizer.vocab_size(), 258);
  expect_error([&] { tokenizer.end_of_text(); }, {"no \"<|endoftext|>\" token"});
}

TEST(BpeTokenizer, MissingFilesAreErrorsNamingThem) {
  TempDir dir;
  expect_error([&] { BpeTokenizer::from_directory(dir.path()); },
               {"BpeTokenizer", (dir.path() / "encoder.json").string(), "no such file"});
  write_vocabulary(dir.path(), {}, {});
  fs::remove(dir.path() / "vocab.bpe");
  expect_error([&] { BpeTokenizer::from_directory(dir.path()); },
               {(dir.path() / "vocab.bpe").string(), "no such file"});
}

TEST(BpeTokenizer, CorruptFilesAreErrorsNamingThemAndTheReason) {
  TempDir dir;
  const fs::path encoder = dir.path() / "encoder.json", vocab = dir.path() / "vocab.bpe";
  const auto expect_load_error = [&](std::initializer_list<std::string> fragments) {
    expect_error([&] { BpeTokenizer::from_directory(dir.path()); }, fragments);
  };
  write_vocabulary(dir.path(), {"ab"}, {"a b"});
  write_file(encoder, "{\"a\": 0,");
  expect_load_error({encoder.string(), "not valid JSON"});
  write_file(encoder, R"({"a": 0})");
  expect_load_error({encoder.string(), "no token for byte 0x00"});
  write_file(encoder, R"({"a": 0, "b": 7})");
  expect_load_error({encoder.string(), "token \"b\" has id 7", "[0, 2)"});
  write_file(encoder, R"({"a": 1, "b": 1})");
  expect_load_error({encoder.string(), "id 1 is given to more than one token"});
  write_file(encoder, R"({"a\n": 0})");
  expect_load_error({encoder.string(), "outside GPT-2's byte alphabet"});

  write_vocabulary(dir.path(), {"ab"}, {"a b", "ab"});
  expect_load_error({vocab.string(), "line 3", "expected \"left right\", got \"ab\""});
  write_vocabulary(dir.path(), {"ab"}, {"a b", "ab c"});
  expect_load_error({vocab.string(), "line 3", "\"abc\" is not a token of", encoder.string()});
  write_vocabulary(dir.path(), {"ab"}, {"a b", "a b"});
  expect_load_error({vocab.string(), "line 3", "\"a b\" appears twice"});
  write_vocabulary(dir.path(), {}, {});
  expect_load_error({vocab.string(), "holds no merges"});
}
