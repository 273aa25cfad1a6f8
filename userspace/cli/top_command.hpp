// `why502 top`: a live terminal view, redrawn every second; q quits.
#pragma once

#include "cli/live_session.hpp"

namespace CLI {
class App;
}

namespace why502 {

struct TopOptions {
  LiveOptions live;
  double window_s = 10;  // rates are over this many seconds
};

void add_top_command(CLI::App& app, TopOptions& options);
int run_top(const TopOptions& options);

}  // namespace why502
