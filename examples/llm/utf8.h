#pragma once
#include <cstddef>
#include <string>
#include <string_view>

// Strict UTF-8 (RFC 3629) for the tokenizers: overlong forms, surrogates and values above
// U+10FFFF are invalid, as they are to Python's str and to PCRE2's UTF mode, so the three agree
// on where a text stops being valid.
namespace mantissa::llm::utf8 {

struct Decoded {
  char32_t code_point;
  size_t length;  // bytes the sequence takes; 0 when the bytes at the position are not valid UTF-8
};

// Decodes the sequence that starts at text[pos] (pos < text.size()).
Decoded decode(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of a code point (at most U+10FFFF, not a surrogate).
void append(std::string& out, char32_t code_point);

// "U+000A" for control and other invisible characters, "'é' (U+00E9)" otherwise: for messages.
std::string describe(char32_t code_point);

}  // namespace mantissa::llm::utf8
