// The pieces of the html report (report_html in report.hpp puts them on one
// page): shared facts about the errors, the timeline, and the page's script.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "output/report.hpp"

namespace why502::report_page {

// How often something happened, and its first and last record.
struct Occurrences {
  uint64_t count = 0;
  int64_t first_ns = 0, last_ns = 0;  // wall clock
  const Record* first = nullptr;
  const Record* last = nullptr;
  void add(const Record& record, int64_t wall_ns);
};

// Gateway errors (what clients got): all of them, per cause and per upstream
// (keyed by upstream_label).
struct ErrorSpans {
  Occurrences all;
  std::map<std::string, Occurrences> by_cause, by_upstream;
};
ErrorSpans gateway_error_spans(const Report& report);

// A fixed colour per cause (#rrggbb), so timelines read the same in every report.
const char* cause_colour(const std::string& cause);

// The SVG timeline of gateway errors by cause, with its markers (backend
// deaths, full queues, no live upstreams, each upstream's first and last
// error) and the legend whose buttons toggle causes.
std::string timeline_html(const Report& report, const ErrorSpans& spans);

// The page's inline style and script: constant text, no data from records.
extern const char kStyle[];
extern const char kScript[];

}  // namespace why502::report_page
