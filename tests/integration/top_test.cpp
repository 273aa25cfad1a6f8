// `why502 top` in a real terminal (tmux), read back with capture-pane while
// nginx is answering 502s; q must quit it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using Top = RootTest;

// A detached tmux session, killed whatever happens.
class TmuxSession {
 public:
  explicit TmuxSession(const std::string& command) : name_("why502top" + std::to_string(getpid())) {
    int status = 0;
    run_command({"tmux", "new-session", "-d", "-s", name_, "-x", "160", "-y", "40", command}, &status);
    if (status != 0) throw std::runtime_error("tmux could not start");
  }
  ~TmuxSession() { run_command({"tmux", "kill-session", "-t", name_}); }
  std::string screen() const { return run_command({"tmux", "capture-pane", "-p", "-t", name_}); }
  void keys(const std::string& keys) const { run_command({"tmux", "send-keys", "-t", name_, keys}); }
  bool alive() const {
    int status = 0;
    run_command({"tmux", "has-session", "-t", name_}, &status);
    return status == 0;
  }
  // Polls the screen (a readiness check, not a guess) until it shows all of parts.
  bool wait_for(std::initializer_list<std::string> parts, std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string s = screen();
      bool all = true;
      for (const auto& p : parts) all = all && s.find(p) != std::string::npos;
      if (all) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

 private:
  std::string name_;
};

TEST_F(Top, ShowsErrorsByCauseAndQuitsOnQ) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n");
  TmuxSession tmux(std::string(WHY502_BINARY) + " top --pid " + std::to_string(s.nginx_master()));
  ASSERT_TRUE(tmux.wait_for({"why502 top", "(q quits)"}, 30s)) << tmux.screen();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/refused",
                       "http://127.0.0.1:{PORT}/refused"});
  EXPECT_EQ(codes, (std::vector<int>{502, 502, 502}));
  EXPECT_TRUE(tmux.wait_for({"refused", refused, "502", "lost 0"}, 10s)) << tmux.screen();
  tmux.keys("q");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (tmux.alive() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(tmux.alive()) << "q did not quit: " << tmux.screen();
}

}  // namespace
}  // namespace why502::testing
