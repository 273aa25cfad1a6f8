#include "cli/top_command.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>

#include "common/fatal_error.hpp"
#include "output/clock.hpp"
#include "output/top_view.hpp"

namespace why502 {
namespace {

// Keys without Enter, no echo; the terminal is restored however top ends.
class RawTerminal {
 public:
  RawTerminal() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) throw FatalError("top needs a terminal on stdin; use why502 trace for a pipe or a file");
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    std::fputs("\x1b[?25l", stdout);  // hide the cursor
  }
  ~RawTerminal() {
    std::fputs("\x1b[?25h\n", stdout);
    std::fflush(stdout);
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  bool quit_pressed() {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    char c = 0;
    while (poll(&p, 1, 0) > 0 && read(STDIN_FILENO, &c, 1) == 1)
      if (c == 'q' || c == 'Q') return true;
    return false;
  }

 private:
  termios saved_{};
};


}  // namespace

void add_top_command(CLI::App& app, TopOptions& o) {
  CLI::App* top = app.add_subcommand("top", "A live terminal view of gateway errors; q quits");
  top->add_option("--window", o.window_s, "Rates over this many seconds")->check(CLI::Range(1.0, 3600.0));
  add_live_options(*top, o.live);
}

int run_top(const TopOptions& options) {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
    throw FatalError("top needs a terminal on stdin and stdout; use why502 trace for a pipe or a file");
  RawTerminal terminal;
  TopView view(WallClock(), options.window_s);
  uint64_t last_draw = 0;
  bool quit = false;
  LiveHooks hooks;
  hooks.on_record = [&](const Record& r) { view.add(r); };
  hooks.on_tick = [&](const LiveStatus& status) {
    quit = quit || terminal.quit_pressed();
    const uint64_t now = monotonic_now_ns();
    if (now - last_draw < 1'000'000'000ull) return;
    last_draw = now;
    winsize ws{};
    ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
    const std::string screen = view.render(now, status.events, status.lost, ws.ws_col ? ws.ws_col : 120,
                                           ws.ws_row ? ws.ws_row - 1 : 40);
    std::fputs("\x1b[H\x1b[2J", stdout);  // home, clear
    std::fputs(screen.c_str(), stdout);
    std::fflush(stdout);
  };
  hooks.should_stop = [&] { return quit; };
  run_live(options.live, hooks);
  return 0;
}

}  // namespace why502
