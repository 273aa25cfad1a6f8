// Error-page records held (briefly) until nginx's status line on the client
// socket confirms the status the client got: error_page can change it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <unordered_map>
#include <utility>
#include <vector>

#include "attribution/record.hpp"

namespace why502 {

// A socket of one nginx process (socket addresses are per host, reused freely).
struct SocketKey {
  uint32_t tgid;
  uint64_t sk;
  bool operator==(const SocketKey&) const = default;
};
struct SocketKeyHash {
  size_t operator()(const SocketKey& k) const { return std::hash<uint64_t>()(k.sk) ^ k.tgid; }
};

// The request an error page is for (w5_ngx_error_page's request, connection
// and requests).
struct PageOf {
  uint64_t request;
  uint64_t connection;
  uint32_t requests;
  bool operator==(const PageOf&) const = default;
};

class HeldRecords {
 public:
  bool empty() const { return by_socket_.empty(); }
  // Holds record on its client socket until its echo, or until deadline_ns.
  // A record of the same request held there already is replaced, in its
  // place (returns true): error_page sent that request to another location,
  // which failed too, and nginx never wrote the first page.
  // keep_unconfirmed: whether the record goes out when no readable status
  // line confirms it (by its deadline, or an unreadable one: TLS, HTTP/2);
  // false when nginx's error_page leads the client to a non-error.
  bool hold(SocketKey client, PageOf page, Record&& record, uint64_t deadline_ns, bool keep_unconfirmed = true) {
    return by_socket_[client].hold(page, std::move(record), deadline_ns, keep_unconfirmed);
  }
  // Whether a record of page is held on client.
  bool holds(SocketKey client, PageOf page) const {
    auto it = by_socket_.find(client);
    return it != by_socket_.end() && it->second.holds(page);
  }
  // Hands the oldest record held on client to take(Record&, bool
  // keep_unconfirmed) (which may move it out) and lets it go; false when the
  // socket holds none.
  template <typename Take>
  bool take_oldest(SocketKey client, Take&& take) {
    auto it = by_socket_.find(client);
    if (it == by_socket_.end() || it->second.empty()) return false;
    take(it->second.front().record, it->second.front().keep_unconfirmed);
    it->second.pop_front();
    if (it->second.empty()) by_socket_.erase(it);
    return true;
  }
  // Hands every record past its deadline at now_ns to take, as take_oldest
  // does, oldest first on each socket.
  template <typename Take>
  void take_due(uint64_t now_ns, Take&& take) {
    for (auto it = by_socket_.begin(); it != by_socket_.end();) {
      Queue& records = it->second;
      while (!records.empty() && records.front().deadline_ns < now_ns) {
        take(records.front().record, records.front().keep_unconfirmed);
        records.pop_front();
      }
      it = records.empty() ? by_socket_.erase(it) : std::next(it);
    }
  }

 private:
  struct Held {
    // Built in place in its queue (no aggregate emplace before clang 16).
    Held(PageOf of, Record&& held, uint64_t deadline, bool keep)
        : page(of), record(std::move(held)), deadline_ns(deadline), keep_unconfirmed(keep) {}
    PageOf page;
    Record record;
    uint64_t deadline_ns;
    bool keep_unconfirmed;
  };
  // The records held on one client socket, oldest first: nearly always just
  // one. A vector read from a moving front, as a std::deque allocates its map
  // and a block for every socket that holds a record.
  class Queue {
   public:
    bool empty() const { return front_ == records_.size(); }
    Held& front() { return records_[front_]; }
    bool hold(PageOf page, Record&& record, uint64_t deadline_ns, bool keep_unconfirmed);
    bool holds(PageOf page) const;
    void pop_front();

   private:
    std::vector<Held> records_;
    size_t front_ = 0;  // records before it were released
  };
  std::unordered_map<SocketKey, Queue, SocketKeyHash> by_socket_;
};

}  // namespace why502
