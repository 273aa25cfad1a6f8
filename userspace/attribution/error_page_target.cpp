#include "attribution/error_page_target.hpp"

#include "common/text.hpp"

namespace why502 {

std::optional<int> status_after_error_page(const w5_ngx_error_page_target& target, int page_status) {
  const int overwrite = target.overwrite;
  if (target.target == W5_ERROR_PAGE_URL) {
    // ngx_http_send_error_page: a redirect the client follows, 302 unless
    // "=" named another redirect status.
    const bool redirect = overwrite == 301 || overwrite == 302 || overwrite == 303 || overwrite == 307 ||
                          overwrite == 308;
    return redirect ? overwrite : 302;
  }
  // A URI or a named location: the status stays without "=" (-1), is the
  // target's own with a bare "=" (0), else is the one given.
  if (overwrite < 0) return page_status;
  if (overwrite == 0) return std::nullopt;
  return overwrite;
}

std::string error_page_turned(int from, int to) {
  return concat("error_page turned nginx's ", Decimal(from), " into ", Decimal(to));
}

bool is_gateway_status(int status, const Record& r) {
  return status == 502 || status == 503 || status == 504 ||
         (status == 500 && (r.cause == Cause::fd_exhausted || r.status == 500));
}

bool follow_error_page(const w5_ngx_error_page_target& target, Record& r) {
  const std::optional<int> status = status_after_error_page(target, r.status);
  // The target's own: a page of its own comes if it fails.
  if (!status || !is_gateway_status(*status, r)) return false;
  if (*status != r.status) {
    r.evidence.push_back(error_page_turned(r.status, *status));
    r.status = *status;
  }
  return true;
}

}  // namespace why502
