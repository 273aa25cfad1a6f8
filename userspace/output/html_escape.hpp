// Text from records (evidence, upstream names, clients) into an HTML page.
#pragma once

#include <string>
#include <string_view>

namespace why502 {

// Safe as element text and as a double- or single-quoted attribute value:
// & < > " ' become entities. Bytes that are not valid UTF-8 and control
// characters (nginx's memory is not trusted to be text) become a visible \xNN.
std::string html_escape(std::string_view text);

}  // namespace why502
