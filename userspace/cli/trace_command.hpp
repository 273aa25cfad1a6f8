// `why502 trace`: attach, attribute live, print one record per gateway error.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "output/record_sink.hpp"

namespace CLI {
class App;
}

namespace why502 {

struct TraceOptions {
  std::string format;  // "text" or "json"; empty: text on a terminal, else json
  double duration_s = 0;
  std::string output;  // file, or "" for stdout
  std::vector<pid_t> pids;
  std::vector<std::string> nginx_binaries;
  bool no_uprobes = false;  // kernel-only attribution, as with a stripped nginx
  int verbosity = 0;
};

void add_trace_command(CLI::App& app, TraceOptions& options);
int run_trace(const TraceOptions& options);

}  // namespace why502
