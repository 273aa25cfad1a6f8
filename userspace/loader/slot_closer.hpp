// Closes what a layout slot held (an nginx binary's uprobe links) on a thread
// of its own. Closing a uprobe's link makes the kernel wait out grace periods:
// 10-30 ms a link on the development VM, hundreds under load. The event loop
// must not wait with it, since nothing drains the ring buffer meanwhile (an
// upgrade under a 502 storm lost events so). A slot is busy until what it held
// is closed: links still open would run with the next binary's layout.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace why502 {

template <typename Held, size_t kSlots>
class SlotCloser {
 public:
  SlotCloser() : thread_([this] { run(); }) {}
  // Closes what is still queued, then returns.
  ~SlotCloser() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  SlotCloser(const SlotCloser&) = delete;
  SlotCloser& operator=(const SlotCloser&) = delete;

  void close(uint32_t slot, Held held) {
    {
      std::lock_guard lock(mutex_);
      queue_.emplace_back(slot, std::move(held));
      ++closing_[slot];
    }
    wake_.notify_one();
  }
  // Whether what slot held is still being closed.
  bool closing(uint32_t slot) const {
    std::lock_guard lock(mutex_);
    return closing_[slot] > 0;
  }
  // Returns once what slot held is closed: for when no other slot is free.
  void wait_until_closed(uint32_t slot) {
    std::unique_lock lock(mutex_);
    closed_.wait(lock, [&] { return closing_[slot] == 0; });
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and all closed
      auto [slot, held] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      { Held closed = std::move(held); }  // the waits happen here
      lock.lock();
      --closing_[slot];
      closed_.notify_all();
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable wake_;    // something to close, or stop
  std::condition_variable closed_;  // a slot's links were closed
  std::deque<std::pair<uint32_t, Held>> queue_;
  std::array<uint32_t, kSlots> closing_{};
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest is built
};

}  // namespace why502
