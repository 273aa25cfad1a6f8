#include "cli/metrics_endpoint.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fatal_error.hpp"

namespace why502 {
namespace {

int bind_listener(const std::string& listen) {
  const ListenAddress address = parse_listen_address(listen);
  int fd = socket(address.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0 ||
      ::listen(fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    throw FatalError("--listen " + listen + ": " + why);
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

ListenAddress parse_listen_address(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw FatalError("--listen " + listen + ": give ADDRESS:PORT, e.g. 127.0.0.1:9502");
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) throw FatalError("--listen " + listen + ": bad port");
  ListenAddress address;
  sockaddr_storage& addr = address.storage;
  socklen_t& len = address.length;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1)
      throw FatalError("--listen " + listen + ": bad IPv6 address");
    len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) throw FatalError("--listen " + listen + ": bad IPv4 address");
    len = sizeof(sockaddr_in);
  }
  return address;
}

MetricsEndpoint::MetricsEndpoint(const std::string& listen, std::function<std::string()> render)
    : render_(std::move(render)) {
  listener_ = bind_listener(listen);
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    close(listener_);
    throw FatalError("cannot create a pipe");
  }
  thread_ = std::thread([this] { serve(); });
}

MetricsEndpoint::~MetricsEndpoint() {
  close(wake_[1]);
  if (thread_.joinable()) thread_.join();
  close(wake_[0]);
  close(listener_);
}

void MetricsEndpoint::serve() {
  while (true) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    answer(client);
    close(client);
  }
}

void MetricsEndpoint::answer(int client) {
  // Read the request head (a slow client gets a second, then nothing).
  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) return;
    ssize_t n = recv(client, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  std::string status = "404 Not Found", type = "text/plain; charset=utf-8", body = "not found; try /metrics\n";
  if (request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0) {
    status = "200 OK";
    type = "text/plain; version=0.0.4; charset=utf-8";
    body = render_();
  } else if (request.rfind("GET / ", 0) == 0) {
    status = "200 OK";
    body = "why502: metrics at /metrics\n";
  }
  send_all(client, "HTTP/1.1 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

}  // namespace why502
