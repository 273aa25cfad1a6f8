// `why502 serve`: the always-on probe — Prometheus metrics on a loopback
// address, gateway-error records as JSON Lines, systemd readiness.
#pragma once

#include <string>

#include "cli/live_session.hpp"

namespace CLI {
class App;
}

namespace why502 {

struct ServeOptions {
  LiveOptions live;
  std::string listen = "127.0.0.1:9502";
  std::string log;  // JSON Lines of every record: a file, "-" for stdout, "" for none
  size_t max_upstreams = 50;
};

void add_serve_command(CLI::App& app, ServeOptions& options);
int run_serve(const ServeOptions& options);

}  // namespace why502
