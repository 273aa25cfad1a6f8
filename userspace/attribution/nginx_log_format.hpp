// An nginx error_log message as nginx wrote it: its format string filled in
// from the arguments the uprobe copied (ngx_log_error_core is variadic), by
// nginx's own directives (ngx_vslprintf: %V %s %*s %ui %i %d %03ui %xi %p ...).
#pragma once

#include <string>

#include "why502_wire.h"

namespace why502 {

// "limiting requests, excess: 1.000 by zone "one"", then " (err: text)" and
// " while action" as error.log shows them. Events without arguments (wire
// version 1) fall back to describe_nginx_log(), which knows the peer only.
std::string format_nginx_log(const w5_ngx_log& e);

// Messages whose arguments are bytes of an upstream's response ("upstream
// sent invalid header: ..."): the BPF side does not copy their text, and
// their text directives print as "...". Exposed for the BPF side's mirror test.
bool withholds_argument_text(std::string_view fmt);

}  // namespace why502
