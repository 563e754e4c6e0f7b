#include "examples/llm/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <queue>
#include <sstream>
#include <unordered_map>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>
#include "examples/llm/utf8.h"

namespace mantissa::llm {

namespace {

// GPT-2's vocabulary files spell every token in an alphabet of 256 printable characters, one per
// byte (encoder.py's bytes_to_unicode), so that no token is spelled with whitespace or control
// characters: the printable Latin-1 bytes stand for themselves and the other 68 bytes, in
// increasing order, for U+0100, U+0101, ...
std::array<char32_t, 256> byte_alphabet() {
  const auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  };
  std::array<char32_t, 256> alphabet{};
  char32_t next_substitute = 0x100;
  for (int b = 0; b < 256; ++b) alphabet[b] = printable(b) ? static_cast<char32_t>(b) : next_substitute++;
  return alphabet;
}

// GPT-2's pre-tokeniser, 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ :
// contractions, letters, digits and other symbols (each optionally led by one space), white space
// that does not precede a non-space, other white space. \s is spelled out as the Unicode
// White_Space property, which is what it means to Python's `regex` in encoder.py; PCRE2's \s also
// takes U+180E MONGOLIAN VOWEL SEPARATOR (white space before Unicode 6.3), which GPT-2 treats as
// a symbol.
std::string pretoken_pattern() {
  const std::string space =
      R"(\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^)" + space + R"(\p{L}\p{N}]+|[)" + space +
         "]+(?![^" + space + "])|[" + space + "]+";
}

// The pattern compiled once with PCRE2 in UTF mode with Unicode properties (UCP), so that
// \p{L} and \p{N} are Unicode's letters and numbers, as in Python's `regex`.
class Pretokenizer {
 public:
  Pretokenizer() {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    // ANCHORED: every match starts where the previous one ended. The alternatives cover every
    // character, so that loses nothing, and a piece can never be skipped unnoticed.
    const std::string pattern = pretoken_pattern();
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &error, &error_offset, nullptr));
    if (!code_)
      fail("BpeTokenizer", "PCRE2 rejected GPT-2's pattern at offset {}: {}", error_offset, message(error));
    // JIT makes matching several times faster; where PCRE2 was built without it, the
    // interpreter gives the same matches.
    pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE);
  }

  // Calls on_piece(piece) for each pre-token of `text`, which must be valid UTF-8, in order.
  template <typename F>
  void split(std::string_view text, F&& on_piece) const {
    const std::unique_ptr<pcre2_match_data, MatchDataFree> match(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    MANTISSA_CHECK(match, "BpeTokenizer::encode", "out of memory for PCRE2 match data");
    const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    for (size_t start = 0; start < text.size();) {
      const int rc =
          pcre2_match(code_.get(), subject, text.size(), start, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
      if (rc < 0) fail("BpeTokenizer::encode", "PCRE2 failed at byte offset {}: {}", start, message(rc));
      const size_t end = pcre2_get_ovector_pointer(match.get())[1];
      on_piece(text.substr(start, end - start));
      start = end;
    }
  }

 private:
  struct CodeFree {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
  };
  struct MatchDataFree {
    void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
  };

  static std::string message(int error) {
    std::array<PCRE2_UCHAR, 256> buffer{};
    pcre2_get_error_message(error, buffer.data(), buffer.size());
    return reinterpret_cast<const char*>(buffer.data());
  }

  std::unique_ptr<pcre2_code, CodeFree> code_;
};

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int error = errno;
    fail("BpeTokenizer", "cannot read {}: {}", file.string(),
         std::filesystem::exists(file) ? std::strerror(error) : "no such file");
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

// End of the run of valid UTF-8 that starts at `pos`.
size_t valid_run_end(std::string_view text, size_t pos) {
  for (size_t length; pos < text.size() && (length = utf8::decode(text, pos).length) > 0;) pos += length;
  return pos;
}

// End of the run of bytes that are not valid UTF-8 that starts at `pos`.
size_t invalid_run_end(std::string_view text, size_t pos) {
  while (pos < text.size() && utf8::decode(text, pos).length == 0) ++pos;
  return pos;
}

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// Lets the cache be searched with a string_view without building a std::string per lookup.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

struct BpeTokenizer::Model {
  struct Merge {
    int32_t rank;    // line order in vocab.bpe: lower merges first
    int32_t result;  // id of the merged token
  };

  std::vector<std::string> token_bytes;        // id -> the bytes the token stands for
  std::array<int32_t, 256> byte_token{};       // byte -> id of its single-byte token
  std::unordered_map<uint64_t, Merge> merges;  // pair_key(left id, right id) -> merge
  Pretokenizer pretokenizer;

  // Encoded pre-tokens, as encoder.py keeps them: text repeats its words, so most pre-tokens
  // are merged once. Cleared when full, which bounds memory on large corpora at little cost.
  static constexpr size_t kCacheCapacity = size_t{1} << 18;
  std::mutex cache_mutex;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache;

  void load_encoder(const std::filesystem::path& file,
                    std::unordered_map<std::string, int32_t>& id_of_spelling);
  void load_merges(const std::filesystem::path& file, const std::filesystem::path& encoder_file,
                   const std::unordered_map<std::string, int32_t>& id_of_spelling);
  const Merge* find_merge(int32_t left, int32_t right) const;
  std::vector<int32_t> merge_piece(std::string_view piece) const;
  void append_piece(std::string_view piece, std::vector<int32_t>& ids);
};

// encoder.json: {"<token spelled in the byte alphabet>": id, ...}, ids 0 .. n-1 each once.
void BpeTokenizer::Model::load_encoder(const std::filesystem::path& file,
                                       std::unordered_map<std::string, int32_t>& id_of_spelling) {
  nlohmann::json encoder;
  try {
    encoder = nlohmann::json::parse(read_file(file));
  } catch (const nlohmann::json::exception& e) {
    fail("BpeTokenizer", "{} is not valid JSON: {}", file.string(), e.what());
  }
  MANTISSA_CHECK(encoder.is_object() && !encoder.empty(), "BpeTokenizer",
                 "{} should be a non-empty object mapping tokens to ids", file.string());
  std::unordered_map<char32_t, char> byte_of_letter;
  const std::array<char32_t, 256> alphabet = byte_alphabet();
  for (int b = 0; b < 256; ++b) byte_of_letter[alphabet[b]] = static_cast<char>(b);

  const auto size = static_cast<int64_t>(encoder.size());
  token_bytes.assign(size, {});
  std::vector<bool> seen(size);
  for (const auto& [spelling, id_json] : encoder.items()) {
    MANTISSA_CHECK(
        id_json.is_number_integer() && id_json.get<int64_t>() >= 0 && id_json.get<int64_t>() < size,
        "BpeTokenizer", "{}: token \"{}\" has id {}, expected an integer in [0, {})", file.string(), spelling,
        id_json.dump(), size);
    const auto id = id_json.get<int32_t>();
    MANTISSA_CHECK(!seen[id], "BpeTokenizer", "{}: id {} is given to more than one token (again to \"{}\")",
                   file.string(), id, spelling);
    seen[id] = true;
    for (size_t pos = 0; pos < spelling.size();) {
      const utf8::Decoded letter = utf8::decode(spelling, pos);
      const auto byte = byte_of_letter.find(letter.code_point);
      MANTISSA_CHECK(
          letter.length > 0 && byte != byte_of_letter.end(), "BpeTokenizer",
          "{}: token \"{}\" (id {}) has a character outside GPT-2's byte alphabet at byte offset {}",
          file.string(), spelling, id, pos);
      token_bytes[id] += byte->second;
      pos += letter.length;
    }
    id_of_spelling.emplace(spelling, id);
  }
  for (int b = 0; b < 256; ++b) {
    std::string spelling;
    utf8::append(spelling, alphabet[b]);
    const auto it = id_of_spelling.find(spelling);
    MANTISSA_CHECK(it != id_of_spelling.end(), "BpeTokenizer",
                   "{} has no token for byte 0x{:02X} (\"{}\"); a byte-level vocabulary needs all 256",
                   file.string(), b, spelling);
    byte_token[b] = it->second;
  }
}

// vocab.bpe: a "#version" line, then one merge per line, "left right", highest priority first.
void BpeTokenizer::Model::load_merges(const std::filesystem::path& file,
                                      const std::filesystem::path& encoder_file,
                                      const std::unordered_map<std::string, int32_t>& id_of_spelling) {
  std::istringstream lines(read_file(file));
  std::string line;
  for (int line_number = 1; std::getline(lines, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // a copy checked out with CRLF
    if (line.empty() || (line_number == 1 && line.starts_with("#"))) continue;
    const size_t space = line.find(' ');
    const bool two_parts = space != std::string::npos && space > 0 && space + 1 < line.size() &&
                           line.find(' ', space + 1) == std::string::npos;
    MANTISSA_CHECK(two_parts, "BpeTokenizer", "{} line {}: expected \"left right\", got \"{}\"",
                   file.string(), line_number, line);
    const std::string left = line.substr(0, space), right = line.substr(space + 1);
    int32_t ids[3];
    const std::string parts[3] = {left, right, left + right};
    for (int i = 0; i < 3; ++i) {
      const auto it = id_of_spelling.find(parts[i]);
      MANTISSA_CHECK(it != id_of_spelling.end(), "BpeTokenizer", "{} line {}: \"{}\" is not a token of {}",
                     file.string(), line_number, parts[i], encoder_file.string());
      ids[i] = it->second;
    }
    const auto rank = static_cast<int32_t>(merges.size());
    MANTISSA_CHECK(merges.emplace(pair_key(ids[0], ids[1]), Merge{rank, ids[2]}).second, "BpeTokenizer",
                   "{} line {}: the merge \"{}\" appears twice", file.string(), line_number, line);
  }
  MANTISSA_CHECK(!merges.empty(), "BpeTokenizer", "{} holds no merges", file.string());
}

const BpeTokenizer::Model::Merge* BpeTokenizer::Model::find_merge(int32_t left, int32_t right) const {
  const auto it = merges.find(pair_key(left, right));
  return it == merges.end() ? nullptr : &it->second;
}

// encoder.py's bpe() on one pre-token: while some adjacent pair has a merge, take the pair of
// lowest rank and merge every occurrence of it, left to right without overlap. encoder.py
// rescans the word for each merge, quadratic in its length; here the symbols are a linked list
// and the candidate pairs a heap of (rank, position), which is O(n log n) and matters for long
// pre-tokens (runs of letters or symbols with no space). A heap entry goes stale when a merge
// changes its pair; it is recognised by the pair's rank no longer matching.
std::vector<int32_t> BpeTokenizer::Model::merge_piece(std::string_view piece) const {
  const auto n = static_cast<int32_t>(piece.size());
  std::vector<int32_t> token(n), next(n), prev(n);  // token -1: merged into its left neighbour
  for (int32_t i = 0; i < n; ++i) {
    token[i] = byte_token[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const auto merge_at = [&](int32_t left) -> const Merge* {
    if (left < 0 || token[left] < 0 || next[left] < 0) return nullptr;
    return find_merge(token[left], token[next[left]]);
  };
  using Candidate = std::pair<int32_t, int32_t>;  // (rank, left position): pops by rank, then position
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> candidates;
  const auto push = [&](int32_t left) {
    if (const Merge* merge = merge_at(left)) candidates.push({merge->rank, left});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);

  std::vector<int32_t> occurrences;
  while (!candidates.empty()) {
    // Every occurrence of the lowest-ranked pair, in text order. The merges below create only
    // pairs holding the new token, never this pair again, so they wait for a later round.
    const int32_t rank = candidates.top().first;
    occurrences.clear();
    for (; !candidates.empty() && candidates.top().first == rank; candidates.pop())
      occurrences.push_back(candidates.top().second);
    for (int32_t left : occurrences) {
      const Merge* merge = merge_at(left);
      if (!merge || merge->rank != rank) continue;  // stale, or overlapped by the occurrence before it
      const int32_t right = next[left];
      token[left] = merge->result;
      token[right] = -1;
      next[left] = next[right];
      if (next[left] >= 0) prev[next[left]] = left;
      push(prev[left]);
      push(left);
    }
  }
  std::vector<int32_t> ids;
  for (int32_t i = 0; i >= 0; i = next[i]) ids.push_back(token[i]);
  return ids;
}

void BpeTokenizer::Model::append_piece(std::string_view piece, std::vector<int32_t>& ids) {
  {
    std::lock_guard lock(cache_mutex);
    if (const auto it = cache.find(piece); it != cache.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = merge_piece(piece);
  ids.insert(ids.end(), merged.begin(), merged.end());
  std::lock_guard lock(cache_mutex);
  if (cache.size() >= kCacheCapacity) cache.clear();
  cache.emplace(piece, std::move(merged));
}

BpeTokenizer BpeTokenizer::from_directory(const std::filesystem::path& directory) {
  return BpeTokenizer(directory / "encoder.json", directory / "vocab.bpe");
}

BpeTokenizer::BpeTokenizer(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe)
    : model_(std::make_shared<Model>()) {
  std::unordered_map<std::string, int32_t> id_of_spelling;
  model_->load_encoder(encoder_json, id_of_spelling);
  model_->load_merges(vocab_bpe, encoder_json, id_of_spelling);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  const auto append = [&](std::string_view piece) { model_->append_piece(piece, ids); };
  for (size_t pos = 0; pos < text.size();) {
    const size_t valid_end = valid_run_end(text, pos);
    if (valid_end > pos) model_->pretokenizer.split(text.substr(pos, valid_end - pos), append);
    pos = invalid_run_end(text, valid_end);
    if (pos > valid_end) append(text.substr(valid_end, pos - valid_end));
  }
  return ids;
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    MANTISSA_CHECK(ids[i] >= 0 && ids[i] < vocab_size(), "BpeTokenizer::decode",
                   "id {} at position {} is outside the vocabulary [0, {})", ids[i], i, vocab_size());
    bytes += model_->token_bytes[ids[i]];
  }
  return bytes;
}

int64_t BpeTokenizer::vocab_size() const { return static_cast<int64_t>(model_->token_bytes.size()); }

int32_t BpeTokenizer::end_of_text() const {
  const auto& tokens = model_->token_bytes;
  const auto it = std::find(tokens.begin(), tokens.end(), "<|endoftext|>");
  MANTISSA_CHECK(it != tokens.end(), "BpeTokenizer", "the vocabulary has no \"<|endoftext|>\" token");
  return static_cast<int32_t>(it - tokens.begin());
}

}  // namespace mantissa::llm
