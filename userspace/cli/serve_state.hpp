// What serve's two threads share: the tracer adds records and its health, the
// metrics endpoint renders them. The kernel's tables are read at scrape time,
// on the endpoint's thread and outside the lock the tracer takes, so a walk
// of the maps never holds up on_record or on_tick; only copying what it read
// into the metrics does.
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "attribution/record.hpp"
#include "output/kernel_tables.hpp"
#include "output/metrics.hpp"

namespace why502 {

class ServeState {
 public:
  explicit ServeState(size_t max_upstreams) : metrics_(max_upstreams) {}

  void add(const Record& record);
  void set_health(const ProbeHealth& health);
  // Set once the probes are attached; an empty function revokes it, after
  // any read under way has finished (the maps go away next).
  void set_tables_reader(std::function<KernelTables()> reader);
  // The exposition, with the tables read now.
  std::string scrape();

 private:
  std::mutex reader_mutex_;  // held across a read of the tables, never by the tracer's hooks
  std::function<KernelTables()> read_tables_;
  std::mutex mutex_;  // metrics_ and health_
  Metrics metrics_;
  ProbeHealth health_;
};

}  // namespace why502
