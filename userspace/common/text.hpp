// Building evidence text with one allocation per line. A 502 storm makes
// several evidence lines per error at millions of events per second; joining
// them with operator+ allocated (and copied) once per piece.
#pragma once

#include <charconv>
#include <concepts>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

namespace why502 {

// An integer in decimal, exactly as std::to_string writes it, without a heap
// string of its own.
class Decimal {
 public:
  explicit Decimal(std::integral auto value)
      : size_(static_cast<size_t>(std::to_chars(digits_, digits_ + sizeof(digits_), value).ptr - digits_)) {}
  operator std::string_view() const { return {digits_, size_}; }

 private:
  char digits_[24];  // 20 digits and a sign hold any 64-bit integer
  size_t size_;
};

namespace text_detail {
inline void append_all(std::string& out, std::initializer_list<std::string_view> pieces) {
  size_t size = out.size();
  for (std::string_view piece : pieces) size += piece.size();
  out.reserve(size);
  for (std::string_view piece : pieces) out.append(piece);
}
}  // namespace text_detail

// Appends the pieces (anything a string_view can be made from) to out.
template <typename... Pieces>
void append(std::string& out, const Pieces&... pieces) {
  text_detail::append_all(out, {std::string_view(pieces)...});
}

// The pieces joined into a new string.
template <typename... Pieces>
std::string concat(const Pieces&... pieces) {
  std::string out;
  append(out, pieces...);
  return out;
}

// strerror's text. why502 never calls setlocale, so strerror speaks the C
// locale, whose text is the description glibc keeps per errno: read directly,
// it costs no gettext lookup under a lock. Unknown numbers keep strerror's
// "Unknown error N".
inline const char* errno_text(int err) {
  const char* description = strerrordesc_np(err);
  return description ? description : std::strerror(err);
}

// Text as one line of at most max_bytes: control characters (a newline in a
// file name, say) written as \n or \xNN, the rest cut with "...". Error
// messages quote what the user gave; they stay one line whatever it was.
inline std::string one_line(std::string_view text, size_t max_bytes = 400) {
  std::string out;
  for (const char c : text) {
    if (out.size() >= max_bytes) {
      out.resize(max_bytes - 3);
      return out + "...";
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\n') {
      out += "\\n";
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 15]};
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace why502
