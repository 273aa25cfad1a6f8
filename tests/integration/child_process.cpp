#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace why502::testing {
namespace {

std::vector<char*> c_args(std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  return args;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  auto args = c_args(argv);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);  // its own group, so everything it starts can be killed with it
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  setpgid(pid_, pid_);
  close(fds[1]);
  out_fd_ = fds[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_status_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  } else if (pid_ > 0) {
    kill(-pid_, SIGKILL);  // anything it left in its group
  }
  if (out_fd_ >= 0) close(out_fd_);
}

void ChildProcess::drain(int timeout_ms) {
  pollfd p{out_fd_, POLLIN, 0};
  if (out_fd_ < 0 || poll(&p, 1, timeout_ms) <= 0) return;
  char buf[4096];
  ssize_t n = read(out_fd_, buf, sizeof(buf));
  if (n > 0) {
    output_.append(buf, static_cast<size_t>(n));
  } else if (n == 0) {
    close(out_fd_);
    out_fd_ = -1;
  }
}

std::optional<std::string> ChildProcess::wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout) {
  return wait_for(prefix, true, timeout);
}

std::optional<std::string> ChildProcess::wait_for_text(const std::string& text, std::chrono::milliseconds timeout) {
  return wait_for(text, false, timeout);
}

std::optional<std::string> ChildProcess::wait_for(const std::string& text, bool at_start,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t line_start = 0;
  while (true) {
    size_t end;
    while ((end = output_.find('\n', line_start)) != std::string::npos) {
      std::string line = output_.substr(line_start, end - line_start);
      line_start = end + 1;
      if (at_start ? line.rfind(text, 0) == 0 : line.find(text) != std::string::npos) return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return std::nullopt;
    drain(static_cast<int>(std::min<long>(left.count(), 100)));
  }
}

bool ChildProcess::wait_for_lines_with(const std::string& text, size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t found = 0;
    for (size_t at = 0, end; (end = output_.find('\n', at)) != std::string::npos; at = end + 1)
      if (output_.substr(at, end - at).find(text) != std::string::npos) ++found;
    if (found >= n) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return false;
    drain(static_cast<int>(std::min<long>(left.count(), 100)));
  }
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && !exit_status_) kill(pid_, sig);
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_status_) return exit_status_;
  // Looked at once even with no time left: wait_exit(0ms) asks "has it exited?".
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = decode_status(status);
      while (out_fd_ >= 0) drain(100);
      return exit_status_;
    }
    drain(timeout.count() > 0 ? 20 : 0);
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

std::string run_command(const std::vector<std::string>& argv, int* exit_status) {
  ChildProcess child(argv);
  auto status = child.wait_exit(std::chrono::minutes(2));
  if (exit_status) *exit_status = status.value_or(-1);
  return child.output();
}

}  // namespace why502::testing
