// A process a test starts: its output read line by line with deadlines, and
// its whole process group killed when the test is done with it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace why502::testing {

class ChildProcess {
 public:
  // Starts argv[0] with stdout and stderr piped to the test.
  explicit ChildProcess(std::vector<std::string> argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The first line (stdout or stderr) starting with prefix, or nullopt at the deadline.
  std::optional<std::string> wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout);
  // The first line containing text anywhere, or nullopt at the deadline.
  std::optional<std::string> wait_for_text(const std::string& text, std::chrono::milliseconds timeout);
  // Until n lines contain text; false at the deadline.
  bool wait_for_lines_with(const std::string& text, size_t n, std::chrono::milliseconds timeout);
  void signal(int sig);
  // Exit status (or 128+signal), or nullopt when it did not exit in time.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  void drain(int timeout_ms);
  std::optional<std::string> wait_for(const std::string& text, bool at_start, std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;  // everything read so far
  size_t scanned_ = 0;
  std::optional<int> exit_status_;
};

// Runs a command to completion; returns what it printed (stdout and stderr).
std::string run_command(const std::vector<std::string>& argv, int* exit_status = nullptr);

}  // namespace why502::testing
