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

#include "cli/metrics_endpoint.hpp"
#include "cli/private_output.hpp"
#include "cli/serve_state.hpp"
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
  serve->add_option("--max-pending", o.live.max_pending_requests,
                     "Requests with failed upstream attempts held while their outcome is unknown; past it "
                     "the oldest loses nginx's words (a tuning knob: each takes a few hundred bytes)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24))
      ->group("Advanced");
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

  ServeState state(options.max_upstreams);
  ProbeHealth before_first_tick;
  before_first_tick.pending.capacity = options.live.max_pending_requests;
  state.set_health(before_first_tick);
  MetricsEndpoint endpoint(options.listen, [&] { return state.scrape(); });

  LiveHooks hooks;
  hooks.on_record = [&](const Record& r) {
    if (sink) sink->write(r);
    state.add(r);
  };
  hooks.on_records_delivered = [&] {
    if (sink) sink->flush();
  };
  hooks.on_tick = [&](const LiveStatus& s) {
    ProbeHealth health;
    health.events = s.events;
    health.lost_ringbuf_full = s.lost_ringbuf_full;
    health.lost_map_full = s.lost_map_full;
    health.lost_undecodable = s.undecodable;
    health.lost_slot_taken = s.lost_slot_taken;
    health.lag = s.lag;
    health.nginx_binaries = s.nginx_binaries;
    health.listener_probes = s.listener_probes.asked;
    health.listener_probes_queue_full = s.listener_probes.queue_full;
    health.listener_probes_late = s.listener_probes.late;
    health.backend_probes = s.backend_probes.asked;
    health.backend_probes_queue_full = s.backend_probes.queue_full;
    health.backend_probes_late = s.backend_probes.late;
    health.pending = PendingTable{s.engine.pending_requests, s.max_pending_requests, s.engine.evicted_requests,
                                  s.engine.superseded_requests, s.engine.expired_requests, s.engine.ended_requests};
    state.set_health(health);
  };
  hooks.on_tables_reader = [&](std::function<KernelTables()> reader) { state.set_tables_reader(std::move(reader)); };
  hooks.on_ready = notify_systemd_ready;
  run_live(options.live, hooks);
  return 0;
}

}  // namespace why502
