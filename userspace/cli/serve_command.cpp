#include "cli/serve_command.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>

#include "cli/metrics_endpoint.hpp"
#include "cli/private_output.hpp"
#include "output/metrics.hpp"
#include "output/record_sink.hpp"

namespace why502 {
namespace {

// Tells systemd (Type=notify) that why502 is attached, if systemd asked.
void notify_systemd_ready() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::min(std::strlen(path), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  const char message[] = "READY=1";
  sendto(fd, message, sizeof(message) - 1, 0, reinterpret_cast<sockaddr*>(&addr),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

}  // namespace

void add_serve_command(CLI::App& app, ServeOptions& o) {
  CLI::App* serve = app.add_subcommand("serve", "Always-on probe: Prometheus metrics and a JSON log");
  serve->add_option("--listen", o.listen, "Serve /metrics here (loopback unless told otherwise)")->capture_default_str();
  serve->add_option("--log", o.log, "Write every record as JSON Lines to this file (- for stdout; created 0600)");
  serve->add_option("--max-upstreams", o.max_upstreams, "Distinct upstream label values before \"other\"")->capture_default_str()
      ->check(CLI::Range(1, 10000));
  serve->add_flag("--connect-latency", o.live.measure_connect,
                  "Also time TCP connects per upstream (a tracepoint on every TCP state change: "
                  "~1 us per new upstream connection, see docs/BENCHMARKS.md)");
  add_live_options(*serve, o.live);
  // Connect times are taken when the request is sent: a hook --lean leaves out.
  serve->get_option("--lean")->excludes(serve->get_option("--connect-latency"));
}

int run_serve(const ServeOptions& options) {
  std::ofstream file;
  std::ostream* log = nullptr;
  if (options.log == "-") {
    log = &std::cout;
  } else if (!options.log.empty()) {
    open_private_output(file, options.log, std::ios::app);
    log = &file;
  }
  const WallClock clock;
  std::unique_ptr<RecordSink> sink = log ? make_json_sink(*log, clock) : nullptr;

  std::mutex lock;  // the endpoint's thread reads what the tracer writes
  Metrics metrics(options.max_upstreams);
  ProbeHealth health;
  std::function<KernelTables()> read_tables;  // set while the probes are attached
  MetricsEndpoint endpoint(options.listen, [&] {
    std::lock_guard<std::mutex> guard(lock);
    if (read_tables) metrics.set_kernel_tables(read_tables());  // at scrape time, off the event loop
    return metrics.render(health);
  });

  LiveHooks hooks;
  hooks.on_record = [&](const Record& r) {
    if (sink) sink->write(r);
    std::lock_guard<std::mutex> guard(lock);
    metrics.add(r);
  };
  hooks.on_tick = [&](const LiveStatus& s) {
    std::lock_guard<std::mutex> guard(lock);
    health = ProbeHealth{s.events, s.lost_ringbuf_full, s.lost_map_full, s.undecodable, s.lost_slot_taken};
  };
  hooks.on_tables_reader = [&](std::function<KernelTables()> reader) {
    std::lock_guard<std::mutex> guard(lock);
    read_tables = std::move(reader);
  };
  hooks.on_ready = notify_systemd_ready;
  run_live(options.live, hooks);
  return 0;
}

}  // namespace why502
