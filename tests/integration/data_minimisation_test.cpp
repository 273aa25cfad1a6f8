// Data minimisation: no request data unless asked (--capture-request), client
// addresses cut down on request (--anonymise-clients) in every event a
// recording keeps, recordings and files of records 0600.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "../../bpf/include/why502_wire.h"  // the events a recording holds
#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using DataMinimisation = RootTest;

TEST_F(DataMinimisation, RequestLineOnlyWhenAskedAndClientsCutDown) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n");

  s.start_tracer();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused?token=secret"}), std::vector<int>{502});
  std::vector<nlohmann::json> plain = s.stop_tracer();
  ASSERT_EQ(plain.size(), 1u) << s.tracer_output();
  struct stat st{};  // trace -o: records name clients, so 0600 as recordings, whatever the umask
  ASSERT_EQ(stat((s.dir() + "/records.jsonl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(plain[0].contains("request")) << plain[0].dump();
  EXPECT_EQ(plain[0]["client"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << plain[0].dump();

  s.start_tracer({"--capture-request", "--anonymise-clients"});
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused?token=secret"}), std::vector<int>{502});
  std::vector<nlohmann::json> asked = s.stop_tracer();
  ASSERT_EQ(asked.size(), 1u) << s.tracer_output();
  EXPECT_EQ(asked[0]["request"], "GET /refused?token=secret HTTP/1.1") << asked[0].dump();
  EXPECT_EQ(asked[0]["cause"], "refused") << asked[0].dump();
  const std::string client = asked[0]["client"];
  EXPECT_EQ(client.rfind("127.0.0.0:", 0), 0u) << client;
  // The port is kept (it tells connections apart): it is the access log's.
  EXPECT_EQ(client.substr(client.find(':')), s.access_log().back().client.substr(s.access_log().back().client.find(':')));
}

// ---------------------------------------------------------------------------
// A recording made with --anonymise-clients holds no client address anywhere.

using namespace std::chrono_literals;

constexpr char kClientIp[] = "127.77.88.99";  // its /24 cut, 127.77.88.0, differs in the last byte
constexpr uint8_t kClientBytes[4] = {127, 77, 88, 99};
constexpr uint8_t kClientCutBytes[4] = {127, 77, 88, 0};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

uint32_t u32_at(const std::string& bytes, size_t offset) {
  uint32_t v = 0;
  std::memcpy(&v, bytes.data() + offset, sizeof(v));
  return v;
}

// Every block of a recording, inflated (docs/RECORDING.md). Found by their
// magic rather than by walking the header, and each must inflate to the size
// it claims: a block that does not is a failure, not something to skip.
std::vector<std::string> inflated_blocks(const std::string& file) {
  constexpr uint32_t kBlockMagic = 0x314b4c42;  // "BLK1"
  constexpr size_t kBlockHeader = 16;
  std::vector<std::string> blocks;
  for (size_t at = 8; at + kBlockHeader <= file.size(); ++at) {
    if (u32_at(file, at) != kBlockMagic) continue;
    const uint32_t compressed = u32_at(file, at + 4), raw = u32_at(file, at + 8);
    if (at + kBlockHeader + compressed > file.size()) continue;
    std::string out(raw, '\0');
    uLongf out_len = raw;
    if (uncompress(reinterpret_cast<Bytef*>(out.data()), &out_len,
                   reinterpret_cast<const Bytef*>(file.data() + at + kBlockHeader), compressed) != Z_OK ||
        out_len != raw)
      continue;  // "BLK1" inside compressed bytes
    blocks.push_back(std::move(out));
    at += kBlockHeader + compressed - 1;
  }
  return blocks;
}

// The wire bytes of every event entry (kind 1) of the inflated blocks.
std::vector<std::string> recorded_events(const std::vector<std::string>& blocks) {
  std::vector<std::string> events;
  for (const std::string& b : blocks) {
    for (size_t at = 0; at + 8 <= b.size();) {
      const uint8_t kind = static_cast<uint8_t>(b[at]);
      const uint32_t len = u32_at(b, at + 4);
      if (at + 8 + len > b.size()) {
        ADD_FAILURE() << "an entry runs past its block";
        break;
      }
      if (kind == 1 && len >= sizeof(w5_header)) events.push_back(b.substr(at + 8, len));
      at += 8 + len;
    }
  }
  return events;
}

template <typename T>
T as(const std::string& bytes) {
  T v{};
  std::memcpy(&v, bytes.data(), std::min(bytes.size(), sizeof(v)));
  return v;
}

bool contains_bytes(const std::string& haystack, const uint8_t (&needle)[4]) {
  return haystack.find(std::string(reinterpret_cast<const char*>(needle), 4)) != std::string::npos;
}

bool is_cut_client(const w5_addr& a) {
  return a.family == 2 && std::memcmp(a.addr, kClientCutBytes, 4) == 0;
}

// Bytes a BPF program did not write must be zero: string tails after the
// NUL, padding, unused socket slots. Returns what is not, "" if all is.
template <size_t N>
void check_tail(const char (&s)[N], const char* field, std::string& out) {
  const char* end = static_cast<const char*>(std::memchr(s, '\0', N));
  if (!end) return;
  for (const char* p = end; p < s + N; ++p)
    if (*p != 0) {
      out += std::string(field) + " has stale bytes after its NUL; ";
      return;
    }
}

void check_zero(const void* p, size_t n, const char* field, std::string& out) {
  for (size_t i = 0; i < n; ++i)
    if (static_cast<const uint8_t*>(p)[i] != 0) {
      out += std::string(field) + " is not zero; ";
      return;
    }
}

std::string stale_bytes(const std::string& bytes) {
  std::string out;
  switch (as<w5_header>(bytes).type) {
    case W5_EV_NGX_LOG: {
      const auto e = as<w5_ngx_log>(bytes);
      check_tail(e.peer, "ngx_log.peer", out);
      check_tail(e.fmt, "ngx_log.fmt", out);
      check_tail(e.action, "ngx_log.action", out);
      check_zero(&e.pad2, sizeof(e.pad2), "ngx_log.pad2", out);
      check_tail(e.fmt_rest, "ngx_log.fmt_rest", out);
      for (const w5_log_arg& a : e.args) {
        check_zero(&a.pad, sizeof(a.pad), "ngx_log.args.pad", out);
        check_tail(a.cstr, "ngx_log.args.cstr", out);
        check_tail(a.ngx_str, "ngx_log.args.ngx_str", out);
      }
      break;
    }
    case W5_EV_NGX_ERROR_PAGE: {
      const auto e = as<w5_ngx_error_page>(bytes);
      check_tail(e.peer, "error_page.peer", out);
      for (const w5_upstream_state& st : e.states) {
        check_tail(st.peer, "error_page.states.peer", out);
        check_zero(&st.pad, sizeof(st.pad), "error_page.states.pad", out);
      }
      break;
    }
    case W5_EV_CLIENT_RESPONSE: {
      const auto e = as<w5_client_response>(bytes);
      check_zero(&e.pad, sizeof(e.pad), "client_response.pad", out);
      break;
    }
    case W5_EV_UPSTREAM_STATUS:
      check_tail(as<w5_upstream_status>(bytes).unix_path, "upstream_status.unix_path", out);
      break;
    case W5_EV_PROCESS_FORK:
      check_tail(as<w5_process_fork>(bytes).comm, "process_fork.comm", out);
      break;
    case W5_EV_PROCESS_DEATH:
      check_tail(as<w5_process_death>(bytes).comm, "process_death.comm", out);
      break;
    case W5_EV_PROCESS_EXEC: {
      const auto e = as<w5_process_exec>(bytes);
      check_tail(e.comm, "process_exec.comm", out);
      check_zero(&e.pad, sizeof(e.pad), "process_exec.pad", out);
      break;
    }
    case W5_EV_SIGNAL: {
      const auto e = as<w5_signal>(bytes);
      check_tail(e.target_comm, "signal.target_comm", out);
      check_tail(e.sender_comm, "signal.sender_comm", out);
      for (uint32_t i = 0; i < W5_HELD_SOCKETS; ++i) {
        if (i < e.n_sockets)
          check_tail(e.sockets[i].path, "signal.sockets.path", out);
        else
          check_zero(&e.sockets[i], sizeof(e.sockets[i]), "an unused signal.sockets slot", out);
      }
      break;
    }
    case W5_EV_OOM_VICTIM: {
      const auto e = as<w5_oom_victim>(bytes);
      check_zero(&e.pad, sizeof(e.pad), "oom_victim.pad", out);
      break;
    }
    case W5_EV_REQUEST_LINE: {
      const auto e = as<w5_request_line>(bytes);
      check_zero(&e.pad, sizeof(e.pad), "request_line.pad", out);
      check_tail(e.line, "request_line.line", out);
      break;
    }
    default:
      break;
  }
  return out;
}

template <typename Condition>
bool wait_until(Condition done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);  // polling a condition, not hoping
  }
  return false;
}

// Fills the whole ring buffer with non-zero bytes before the events the test
// looks at: fatal signals are traced whoever gets them, so a process that
// ignores SIGTERM sends itself thousands, each event carrying its 15-letter
// name twice and the 47-letter paths of the eight unix sockets it holds. The
// ring's memory is reused, so an event that is not zeroed when reserved
// carries these bytes.
constexpr char kFillerComm[] = "fffffffffffffff";  // 15 letters: all of comm
constexpr int kFillerSignals = 12000;
constexpr char kFiller[] = R"(import os, signal, socket, sys
os.chdir(sys.argv[1])
with open("/proc/self/comm", "w") as f:
    f.write("f" * 15)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
held = []
for i in range(8):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(("filler%d" % i).ljust(47, "p"))
    held.append(s)
for _ in range(int(sys.argv[2])):
    os.kill(os.getpid(), signal.SIGTERM)
print("sent")
)";

TEST_F(DataMinimisation, AnonymisedRecordingHoldsNoClientAddressAnywhere) {
  constexpr size_t kWorkers = 2;
  Scenario s;
  const std::string hang = s.start_backend("hang");
  ChildProcess& hang_backend = s.last_started();
  const std::string slow = s.start_backend("slow", "127.0.0.1:0", 0.5);
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) +
                    proxy("/hang", "http://" + hang) +
                    // nginx answers a client that has gone: its kernel resets nginx's socket
                    // while nginx is on the CPU, sending.
                    proxy("/slow", "http://" + slow, "proxy_ignore_client_abort on;") + "  }\n",
                kWorkers);
  const std::string path = s.dir() + "/anonymised.w502";
  s.start_recorder(path, {"--anonymise-clients", "--pid", std::to_string(s.nginx_master())});

  const std::string filler = s.dir() + "/filler.py";
  std::ofstream(filler) << kFiller;
  int status = -1;
  EXPECT_EQ(run_command({"python3", filler, s.dir(), std::to_string(kFillerSignals)}, &status), "sent\n");
  ASSERT_EQ(status, 0);

  const std::string base = "http://127.0.0.1:{PORT}";
  const std::vector<std::string> from_client = {"--interface", kClientIp};
  EXPECT_EQ(s.curl({base + "/refused", base + "/refused"}, from_client), (std::vector<int>{502, 502}));

  // A reload: the master forks new workers and tells the old ones to quit
  // (over its channel, not with a signal).
  const auto all_gone = [](const std::vector<pid_t>& pids) {
    for (pid_t pid : pids)
      if (kill(pid, 0) == 0) return false;
    return true;
  };
  const std::vector<pid_t> old_workers = s.nginx_workers();
  ASSERT_EQ(kill(s.nginx_master(), SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return all_gone(old_workers) && s.nginx_workers().size() == kWorkers; }, 10s));
  const std::vector<pid_t> workers = s.nginx_workers();

  // A request in flight when its worker is sent SIGQUIT (by an operator, a
  // supervisor): the signal's event lists the client's connection among the
  // sockets the worker holds. The master forks replacements.
  std::vector<std::string> hang_curl = {"curl", "-s", "--interface", kClientIp, "-o", "/dev/null",
                                        "http://127.0.0.1:" + std::to_string(s.nginx_port()) + "/hang"};
  auto held_client = std::make_unique<ChildProcess>(hang_curl);
  ASSERT_TRUE(hang_backend.wait_for_line("request", 10s)) << hang_backend.output();
  for (pid_t worker : workers) ASSERT_EQ(kill(worker, SIGQUIT), 0);
  const auto replacements = [&] {
    size_t n = 0;
    for (pid_t pid : s.nginx_workers()) n += std::find(workers.begin(), workers.end(), pid) == workers.end();
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return replacements() >= kWorkers - 1; }, 10s));  // the idle ones'

  // The client gives up before the slow backend answers; nginx sends the
  // answer anyway and the client's kernel resets the connection.
  EXPECT_EQ(s.curl({base + "/slow"}, {"--interface", kClientIp, "--max-time", "0.2"}), std::vector<int>{0});
  ASSERT_TRUE(wait_until(
      [&] {
        for (const AccessLine& line : s.access_log())
          if (line.uri == "/slow") return true;
        return false;
      },
      10s));
  // The held request ends (499) and its worker exits.
  held_client.reset();
  ASSERT_TRUE(wait_until([&] { return all_gone(workers); }, 10s));
  s.stop_recorder();

  // The client really was 127.77.88.99: nginx logged it so.
  bool logged = false;
  for (const AccessLine& line : s.access_log()) logged |= line.client.rfind(kClientIp, 0) == 0;
  ASSERT_TRUE(logged) << read_bytes(s.dir() + "/access.log");

  const std::string file = read_bytes(path);
  const std::vector<std::string> blocks = inflated_blocks(file);
  ASSERT_FALSE(blocks.empty());
  EXPECT_EQ(file.find(kClientIp), std::string::npos) << "in the recording's uncompressed bytes";
  for (const std::string& b : blocks) {
    EXPECT_EQ(b.find(kClientIp), std::string::npos) << "the address as text in an inflated block";
    EXPECT_FALSE(contains_bytes(b, kClientBytes)) << "the address as 4 bytes in an inflated block";
  }

  // The events that carried it are there, cut: the signalled workers' socket lists,
  // the client's reset, nginx's own words about its requests.
  int cut_in_signals = 0, cut_in_resets = 0, cut_in_logs = 0, filler_signals = 0, checked_after_filler = 0;
  std::string stale;
  for (const std::string& e : recorded_events(blocks)) {
    const w5_header h = as<w5_header>(e);
    if (h.type == W5_EV_SIGNAL) {
      const auto sig = as<w5_signal>(e);
      if (std::string_view(sig.target_comm) == std::string_view(kFillerComm, 15)) {
        ++filler_signals;
        continue;
      }
      for (const w5_held_socket& held : sig.sockets) cut_in_signals += is_cut_client(held.remote);
    } else if (h.type == W5_EV_TCP_RESET || h.type == W5_EV_SOCK_ERROR) {
      const auto ev = as<w5_sock_evidence>(e);
      cut_in_resets += is_cut_client(ev.remote) || is_cut_client(ev.local);
    } else if (h.type == W5_EV_NGX_LOG) {
      cut_in_logs += is_cut_client(as<w5_ngx_log>(e).client);
    }
    // What came after the ring was filled lands on reused memory.
    if (filler_signals > 0 && h.type != W5_EV_LISTENER_STATE) {
      ++checked_after_filler;
      const std::string found = stale_bytes(e);
      if (!found.empty()) stale += "event type " + std::to_string(h.type) + ": " + found + "\n";
    }
  }
  EXPECT_GT(cut_in_signals, 0) << "no old worker's socket list named the client";
  EXPECT_GT(cut_in_resets, 0) << "no reset of the client's connection was recorded";
  EXPECT_GT(cut_in_logs, 0);
  // The filler went once round the ring at least, and the reload's forks and
  // exits, nginx's logs and the resets came after it.
  EXPECT_GT(filler_signals, static_cast<int>(W5_RINGBUF_BYTES / (sizeof(w5_signal) + 8)));
  EXPECT_GT(checked_after_filler, 10);
  EXPECT_EQ(stale, "");

  // Nor in any report of it; the JSON one names the cut client.
  for (const std::vector<std::string>& format : {std::vector<std::string>{}, {"--format", "json"},
                                                 {"--format", "html"}}) {
    std::vector<std::string> argv = {WHY502_BINARY, "report", path};
    argv.insert(argv.end(), format.begin(), format.end());
    int report_status = -1;
    const std::string report = run_command(argv, &report_status);
    EXPECT_EQ(report_status, 0) << report;
    EXPECT_EQ(report.find(kClientIp), std::string::npos) << report;
    if (!format.empty() && format[1] == "json") {
      EXPECT_NE(report.find("\"127.77.88.0:"), std::string::npos) << report;
    }
  }
}

}  // namespace
}  // namespace why502::testing
