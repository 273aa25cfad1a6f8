// `why502 trace`: attach, attribute live, print one record per gateway error.
#pragma once

#include <string>

#include "cli/live_session.hpp"

namespace CLI {
class App;
}

namespace why502 {

struct TraceOptions {
  LiveOptions live;
  std::string format;  // "text" or "json"; empty: text on a terminal, else json
  std::string output;  // file, or "" for stdout
};

void add_trace_command(CLI::App& app, TraceOptions& options);
int run_trace(const TraceOptions& options);

}  // namespace why502
