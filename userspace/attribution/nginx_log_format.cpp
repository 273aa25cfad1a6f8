#include "attribution/nginx_log_format.hpp"

#include <algorithm>
#include <cstdio>

#include "attribution/nginx_log_classifier.hpp"
#include "common/text.hpp"
#include "events/address.hpp"

namespace why502 {
namespace {

// nginx's message buffer is NGX_MAX_ERROR_STR (2048); ours stays shorter.
constexpr size_t kMaxMessage = 1024;
constexpr std::string_view kWithheld = "...";

// The captured bytes of one argument word, as the directive wants them.
class Arguments {
 public:
  explicit Arguments(const w5_ngx_log& e) : e_(e), n_(std::min<uint32_t>(e.n_args, W5_LOG_ARGS)) {}
  bool next(const w5_log_arg*& arg) {
    if (used_ >= n_) return false;
    arg = &e_.args[used_++];
    return true;
  }

 private:
  const w5_ngx_log& e_;
  uint32_t n_;
  uint32_t used_ = 0;
};

std::string_view cstr_of(const w5_log_arg& a) {
  if (!(a.readable & W5_ARG_CSTR)) return {};
  return wire_view(a.cstr);
}

// An ngx_str_t's text; "..." marks what did not fit.
void append_ngx_str(std::string& out, const w5_log_arg& a, uint64_t len) {
  const std::string_view text(a.ngx_str, std::min<uint64_t>(len, W5_ARG_TEXT_LEN - 1));
  out += text;
  if (len > text.size()) out += kWithheld;
}

void append_number(std::string& out, uint64_t value, bool is_signed, bool hex, bool upper, int width, bool zero) {
  char buf[32];
  if (hex)
    snprintf(buf, sizeof(buf), upper ? "%llX" : "%llx", static_cast<unsigned long long>(value));
  else if (is_signed)
    snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(value));
  else
    snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(value));
  const std::string_view digits(buf);
  if (width > static_cast<int>(digits.size())) out.append(static_cast<size_t>(width) - digits.size(), zero ? '0' : ' ');
  out += digits;
}

// The integer an argument of this directive holds: int-sized ones are the
// low 32 bits of their register or stack slot.
uint64_t integer_of(uint64_t word, char type, bool is_signed) {
  switch (type) {
    case 'd':
    case 'D':
    case 'P':
    case 'c':
      return is_signed ? static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(word)))
                       : static_cast<uint32_t>(word);
    default:
      return word;
  }
}

// ngx_vslprintf's directives, over the captured words. Returns false when a
// directive needs an argument that was not captured: the rest of the format
// then follows as nginx wrote it.
bool format_into(std::string& out, std::string_view fmt, Arguments& args, bool withhold_text, std::string_view peer) {
  size_t i = 0;
  while (i < fmt.size() && out.size() < kMaxMessage) {
    if (fmt[i] != '%') {
      out += fmt[i++];
      continue;
    }
    const size_t start = i++;
    bool zero = false, is_unsigned = false, hex = false, upper = false, star = false;
    int width = 0;
    if (i < fmt.size() && fmt[i] == '0') {
      zero = true;
      ++i;
    }
    while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') width = std::min(width * 10 + (fmt[i++] - '0'), 64);
    for (bool flags = true; flags && i < fmt.size();) {
      switch (fmt[i]) {
        case 'u': is_unsigned = true; ++i; break;
        case 'm': ++i; break;  // the type's maximal width: not worth padding for
        case 'X': hex = upper = is_unsigned = true; ++i; break;
        case 'x': hex = is_unsigned = true; ++i; break;
        case '.': ++i; while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') ++i; break;
        case '*': star = true; ++i; break;
        default: flags = false;
      }
    }
    if (i >= fmt.size()) {
      out += fmt.substr(start);
      return true;
    }
    const char type = fmt[i++];
    if (type == '%' || type == 'Z' || type == 'N') {
      if (type == '%') out += '%';
      if (type == 'N') out += '\n';
      continue;
    }
    if (type == 'f') {  // a double travels in an SSE register, which is not captured
      out += '?';
      continue;
    }
    const w5_log_arg* a = nullptr;
    uint64_t star_len = 0;
    if (star) {
      if (!args.next(a)) {
        out += fmt.substr(start);
        return false;
      }
      star_len = a->word;
    }
    if (!args.next(a)) {
      // Version-1-like fallback for the peer: nginx's %V is nearly always it.
      if (type == 'V' && !peer.empty()) {
        out += peer;
        continue;
      }
      out += fmt.substr(start);
      return false;
    }
    switch (type) {
      case 'V':
      case 'v': {
        if (withhold_text) {
          out += kWithheld;
          break;
        }
        if (!(a->readable & W5_ARG_NGX_STR)) {
          out += peer.empty() ? std::string_view("?") : peer;
          break;
        }
        // ngx_variable_value_t: a 28-bit len in a 32-bit word of bitfields.
        append_ngx_str(out, *a, type == 'v' ? (a->str_len & 0x0fffffff) : a->str_len);
        break;
      }
      case 's': {
        if (withhold_text) {
          out += kWithheld;
          break;
        }
        if (!(a->readable & W5_ARG_CSTR)) {
          out += '?';
          break;
        }
        const std::string_view text = cstr_of(*a);
        if (star) {
          out += text.substr(0, std::min<uint64_t>(star_len, text.size()));
          if (star_len > text.size()) out += kWithheld;
        } else {
          out += text;
          // A full buffer: the string went on.
          if (text.size() == sizeof(a->cstr) - 1) out += kWithheld;
        }
        break;
      }
      case 'c':
        out += static_cast<char>(a->word & 0xff);
        break;
      case 'p':
        append_number(out, a->word, false, true, true, 16, true);  // as nginx: 16 upper-case digits
        break;
      case 'O': case 'T': case 'z': case 'd': case 'l': case 'i': case 'D': case 'L': case 'A': case 'P': case 'M':
      case 'r': {
        // %M (ngx_msec_t) and %P are unsigned/signed by nature; the rest signed unless 'u'.
        const bool is_signed = !is_unsigned && type != 'M';
        append_number(out, integer_of(a->word, type, is_signed), is_signed, hex, upper, width, zero);
        break;
      }
      default:
        out += fmt.substr(start, i - start);  // not a directive nginx knows: as it is
    }
  }
  return true;
}

}  // namespace

bool withholds_argument_text(std::string_view fmt) {
  return fmt.starts_with("upstream sent") || fmt.starts_with("client sent");
}

constexpr std::string_view kUnreadFormat = "(nginx's message could not be read)";

std::string format_nginx_log(const w5_ngx_log& e) {
  const std::string_view action = wire_view(e.action);
  const std::string_view peer = wire_view(e.peer);
  std::string_view head = wire_view(e.fmt);
  // Unread (a page of nginx's read-only data not yet in the worker's memory):
  // what nginx said is unknown, not empty.
  if (head.empty()) return describe_nginx_log(kUnreadFormat, e.err, action, peer);
  if (e.n_args == 0) return describe_nginx_log(head, e.err, action, peer);
  std::string fmt(head);
  if (fmt.size() == W5_FMT_LEN - 1) fmt += wire_view(e.fmt_rest);
  std::string text;
  text.reserve(fmt.size() + 128);
  Arguments args(e);
  format_into(text, fmt, args, withholds_argument_text(fmt), peer);
  if (text.size() > kMaxMessage) text.resize(kMaxMessage);
  if (e.err != 0) append(text, " (", Decimal(e.err), ": ", errno_text(e.err), ")");
  if (!action.empty()) append(text, " while ", action);
  return text;
}

}  // namespace why502
