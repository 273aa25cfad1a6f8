#include "cli/serve_state.hpp"

#include <optional>

namespace why502 {

void ServeState::add(const Record& record) {
  std::lock_guard<std::mutex> guard(mutex_);
  metrics_.add(record);
}

void ServeState::set_health(const ProbeHealth& health) {
  std::lock_guard<std::mutex> guard(mutex_);
  health_ = health;
}

void ServeState::set_tables_reader(std::function<KernelTables()> reader) {
  std::lock_guard<std::mutex> guard(reader_mutex_);
  read_tables_ = std::move(reader);
}

std::string ServeState::scrape() {
  std::optional<KernelTables> tables;
  {
    std::lock_guard<std::mutex> guard(reader_mutex_);
    if (read_tables_) tables = read_tables_();
  }
  std::optional<Metrics> snapshot;
  ProbeHealth health;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (tables) metrics_.set_kernel_tables(*tables);
    snapshot = metrics_;
    health = health_;
  }
  return snapshot->render(health);  // reads /proc/self: outside the lock too
}

}  // namespace why502
