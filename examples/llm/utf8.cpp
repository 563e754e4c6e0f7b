#include "examples/llm/utf8.h"

#include <fmt/format.h>

namespace mantissa::llm::utf8 {

Decoded decode(std::string_view text, size_t pos) {
  // The multi-byte forms: lead-byte mask and tag, length, and the first code point that needs
  // this length (anything smaller is an overlong form).
  struct Form {
    unsigned char mask, tag;
    size_t length;
    char32_t smallest;
  };
  static constexpr Form kForms[] = {{0xE0, 0xC0, 2, 0x80}, {0xF0, 0xE0, 3, 0x800}, {0xF8, 0xF0, 4, 0x10000}};
  constexpr Decoded invalid{0, 0};

  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return {lead, 1};
  for (const Form& form : kForms) {
    if ((lead & form.mask) != form.tag) continue;
    if (text.size() - pos < form.length) return invalid;
    char32_t value = lead & static_cast<unsigned char>(~form.mask);
    for (size_t i = 1; i < form.length; ++i) {
      const auto next = static_cast<unsigned char>(text[pos + i]);
      if ((next & 0xC0) != 0x80) return invalid;
      value = (value << 6) | (next & 0x3F);
    }
    if (value < form.smallest || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return invalid;
    return {value, form.length};
  }
  return invalid;  // a continuation byte, or a lead byte that no valid code point uses
}

void append(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

std::string describe(char32_t code_point) {
  const bool invisible = code_point < 0x20 || (code_point >= 0x7F && code_point < 0xA0);
  if (invisible) return fmt::format("U+{:04X}", static_cast<uint32_t>(code_point));
  std::string shown;
  append(shown, code_point);
  return fmt::format("'{}' (U+{:04X})", shown, static_cast<uint32_t>(code_point));
}

}  // namespace mantissa::llm::utf8
