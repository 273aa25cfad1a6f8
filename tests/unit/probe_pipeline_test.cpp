// The error path's reads run on a worker thread; the events behind the one
// that asked for one wait, so that the engine still sees what was read first.
#include <gtest/gtest.h>

#include "event_builders.hpp"
#include "gate.hpp"
#include "events/anonymise.hpp"
#include "host/probe_pipeline.hpp"
#include "output/clock.hpp"

namespace why502::test {
namespace {

const w5_addr kClient = ipv4("192.0.2.30", 53000);

// A probe that blocks at a gate until the test lets it answer.
class GatedProbe {
 public:
  std::optional<w5_listener_state> operator()(const w5_addr& addr, uint64_t ts_ns) {
    gate_.pass();
    w5_listener_state e{};
    e.h = header(W5_EV_LISTENER_STATE, sizeof(e), ts_ns, 0, 0);
    e.addr = addr;
    e.queued = 2;
    e.backlog = 1;
    e.owner_pid = 777;
    e.owners = 1;
    return e;
  }
  void wait_started(int n) { gate_.wait_arrived(n); }
  void open() { gate_.open(); }

 private:
  Gate gate_;
};

struct Seen {
  uint32_t type;
  uint64_t ts_ns;
  uint16_t port;  // of a listener state
};

// The pipeline with a gated probe; every event it passes on goes to the engine too.
struct Harness {
  explicit Harness(ProbePipeline::Options options)
      : pipeline([this](const Event& e, std::span<const uint8_t> bytes) { sink(e, bytes); },
                 [this](const w5_addr& a, uint64_t ts) { return probe(a, ts); }, options) {}
  ~Harness() { probe.open(); }  // lets the worker finish before it is joined

  void sink(const Event& e, std::span<const uint8_t> bytes) {
    const w5_header& h = header_of(e);
    ASSERT_EQ(bytes.size(), h.size);
    const auto* state = std::get_if<w5_listener_state>(&e);
    seen.push_back({h.type, h.ts_ns, state ? state->addr.port : uint16_t{0}});
    engine.handle(e, records);
  }
  template <typename T>
  void push(const T& event) {
    const Event e = event;
    pipeline.push(e, event_bytes(e), monotonic_now_ns());
  }
  std::vector<uint32_t> types() const {
    std::vector<uint32_t> out;
    for (const Seen& s : seen) out.push_back(s.type);
    return out;
  }

  GatedProbe probe;
  std::vector<Seen> seen;
  Engine engine;
  std::vector<Record> records;
  ProbePipeline pipeline;  // last: its worker stops before the rest goes
};

w5_ngx_log connect_timeout_log(uint64_t ts, uint16_t port, uint64_t request) {
  return make_log({.ts = ts, .request = request, .connection = 7, .fmt = "upstream timed out", .err = 110,
                   .action = kConnecting, .peer = "127.0.0.1:" + std::to_string(port), .upstream_sk = 0xffff8881,
                   .upstream = ipv4("127.0.0.1", port), .client = kClient});
}

w5_ngx_error_page error_page(uint64_t ts, uint16_t port, uint64_t request) {
  const std::string peer = "127.0.0.1:" + std::to_string(port);
  return make_error_page({.ts = ts, .request = request, .connection = 7, .status = 504, .peer = peer,
                          .client = kClient, .states = {not_connected(peer, 504, 100)}});
}

ProbePipeline::Options long_wait(size_t queue = 8) {
  ProbePipeline::Options o;
  o.wait_ns = sec(3600);  // never reached: the test decides when the probe answers
  o.queue_capacity = queue;
  return o;
}

TEST(ProbePipeline, EventsNeedingNoProbeGoStraightThrough) {
  Harness h(long_wait());
  h.push(rst(sec(1), 0xffff1, kTcpEstablished, kClient));
  EXPECT_EQ(h.types(), std::vector<uint32_t>{W5_EV_TCP_RESET});
  EXPECT_FALSE(h.pipeline.waiting());
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).asked, 0u);
}

TEST(ProbePipeline, TheProbesResultComesFirstAndTheEventsBehindItWait) {
  Harness h(long_wait());
  h.push(connect_timeout_log(sec(10), 9100, 1));
  h.push(error_page(sec(10.0001), 9100, 1));
  h.probe.wait_started(1);
  h.pipeline.release(monotonic_now_ns());
  EXPECT_TRUE(h.seen.empty()) << "nothing may overtake the listener's state";
  EXPECT_TRUE(h.pipeline.waiting());

  h.probe.open();
  h.pipeline.finish();  // waits for the worker's answer
  ASSERT_EQ(h.types(), (std::vector<uint32_t>{W5_EV_LISTENER_STATE, W5_EV_NGX_LOG, W5_EV_NGX_ERROR_PAGE}));
  EXPECT_EQ(h.seen[0].ts_ns, sec(10)) << "stamped with the time of the event that asked";
  EXPECT_EQ(h.seen[0].port, 9100);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).asked, 1u);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).in_time, 1u);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).late, 0u);
  // And so the engine attributes as when the probe ran inline.
  h.engine.finish(h.records);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].cause, Cause::backlog_full) << dump(h.records[0]);
}

TEST(ProbePipeline, PastTheWaitTheEventsGoOnAndTheStateFollows) {
  ProbePipeline::Options options;
  options.wait_ns = msec(500);
  Harness h(options);
  const uint64_t t0 = monotonic_now_ns();
  const Event log = connect_timeout_log(sec(10), 9100, 1);
  h.pipeline.push(log, event_bytes(log), t0);
  const Event page = error_page(sec(10.0001), 9100, 1);
  h.pipeline.push(page, event_bytes(page), t0);
  h.pipeline.release(t0 + msec(500) - 1);
  EXPECT_TRUE(h.seen.empty());
  h.pipeline.release(t0 + msec(500));
  ASSERT_EQ(h.types(), (std::vector<uint32_t>{W5_EV_NGX_LOG, W5_EV_NGX_ERROR_PAGE}));
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).late, 1u);
  EXPECT_FALSE(h.pipeline.waiting());
  h.engine.finish(h.records);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].cause, Cause::connect_timeout) << "no state, no claim: " << dump(h.records[0]);

  // The late answer is still fed, where the stream is when it comes: here
  // behind the next probe's events (the worker answers in order).
  const Event next = connect_timeout_log(sec(11), 9104, 2);
  h.pipeline.push(next, event_bytes(next), t0 + msec(600));
  h.probe.open();
  h.pipeline.finish();
  ASSERT_EQ(h.types(), (std::vector<uint32_t>{W5_EV_NGX_LOG, W5_EV_NGX_ERROR_PAGE, W5_EV_LISTENER_STATE,
                                              W5_EV_NGX_LOG, W5_EV_LISTENER_STATE}));
  EXPECT_EQ(h.seen[2].port, 9104);
  EXPECT_EQ(h.seen[4].port, 9100);
}

TEST(ProbePipeline, AFullWorkerQueueSkipsTheProbeAndCountsIt) {
  Harness h(long_wait(/*queue=*/1));
  h.push(connect_timeout_log(sec(10), 9101, 1));  // taken by the worker
  h.probe.wait_started(1);
  h.push(connect_timeout_log(sec(10.1), 9102, 2));  // queued
  h.push(connect_timeout_log(sec(10.2), 9103, 3));  // no room: skipped
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).asked, 2u);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).queue_full, 1u);
  h.probe.open();
  h.pipeline.finish();
  ASSERT_EQ(h.types(), (std::vector<uint32_t>{W5_EV_LISTENER_STATE, W5_EV_NGX_LOG, W5_EV_LISTENER_STATE,
                                              W5_EV_NGX_LOG, W5_EV_NGX_LOG}));
  EXPECT_EQ(h.seen[0].port, 9101);
  EXPECT_EQ(h.seen[2].port, 9102);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).in_time, 2u);
}

TEST(ProbePipeline, ABackendReadAskedForComesBeforeTheEventsPushedAfterIt) {
  Harness h(long_wait());
  Gate backend_gate;
  h.pipeline.ask(
      ProbeKind::backend,
      [&backend_gate]() -> std::optional<Event> {
        backend_gate.pass();
        w5_backend_state b{};
        b.h = header(W5_EV_BACKEND_STATE, sizeof(b), sec(20), 0, 0);
        b.found = W5_BACKEND_REMOTE;
        return Event(b);
      },
      monotonic_now_ns());
  h.push(rst(sec(20.1), 0xffff1, kTcpEstablished, kClient));
  backend_gate.wait_arrived(1);
  h.pipeline.release(monotonic_now_ns());
  EXPECT_TRUE(h.seen.empty()) << "the reset must wait behind the backend's read";
  backend_gate.open();
  h.pipeline.finish();
  ASSERT_EQ(h.types(), (std::vector<uint32_t>{W5_EV_BACKEND_STATE, W5_EV_TCP_RESET}));
  EXPECT_EQ(h.pipeline.counts(ProbeKind::backend).asked, 1u);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::backend).in_time, 1u);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).asked, 0u);
}

TEST(ProbePipeline, ABackgroundJobRunsAndHoldsNothingUp) {
  Harness h(long_wait());
  Gate job_gate;
  bool ran = false;
  ASSERT_TRUE(h.pipeline.run_in_background([&]() -> std::optional<Event> {
    job_gate.pass();
    ran = true;
    return std::nullopt;
  }));
  job_gate.wait_arrived(1);
  h.push(rst(sec(1), 0xffff1, kTcpEstablished, kClient));
  EXPECT_EQ(h.types(), std::vector<uint32_t>{W5_EV_TCP_RESET}) << "nothing waits on a background job";
  EXPECT_FALSE(h.pipeline.waiting());
  job_gate.open();
  // A listener read queued behind it is answered once it is done, which
  // shows the worker went on past it (and that ran is set by then).
  h.push(connect_timeout_log(sec(2), 9105, 1));
  h.probe.open();
  h.pipeline.finish();
  EXPECT_TRUE(ran);
  EXPECT_EQ(h.pipeline.counts(ProbeKind::listener).in_time, 1u);
}

}  // namespace
}  // namespace why502::test
