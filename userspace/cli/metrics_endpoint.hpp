// A minimal HTTP endpoint for Prometheus: GET /metrics on one address, served
// from its own thread; anything else gets 404. It never blocks the tracer.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace why502 {

// Where to listen, as bind() takes it.
struct ListenAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

// "127.0.0.1:9502" or "[::1]:9502"; throws FatalError saying what is wrong.
ListenAddress parse_listen_address(const std::string& listen);

class MetricsEndpoint {
 public:
  // listen: "127.0.0.1:9502" or "[::1]:9502". Throws FatalError if it cannot bind.
  MetricsEndpoint(const std::string& listen, std::function<std::string()> render);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

 private:
  void serve();
  void answer(int client);

  std::function<std::string()> render_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};  // a pipe: closing its write end stops the thread
  std::thread thread_;
};

}  // namespace why502
