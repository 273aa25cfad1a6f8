// What the engine reports: one record per gateway error the client received.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "attribution/cause.hpp"

namespace why502 {

// What a record is about: only gateway_error is an error the client got.
enum class RecordType {
  gateway_error,
  retried,    // a failed attempt nginx recovered from
  truncated,  // a response cut off after its header was sent
};

// Which probes saw it. none is a record nobody filled in (tests build such).
enum class RecordSource {
  none,
  uprobe,  // nginx's own view: its log lines and error pages
  kernel,  // status lines and sockets alone
};

// The names users read and filter on in every output (text, JSON, HTML, metrics).
constexpr std::string_view record_type_name(RecordType type) {
  switch (type) {
    case RecordType::gateway_error:
      return "gateway_error";
    case RecordType::retried:
      return "retried";
    case RecordType::truncated:
      return "truncated";
  }
  return "gateway_error";
}

constexpr std::string_view record_source_name(RecordSource source) {
  switch (source) {
    case RecordSource::none:
      return "";
    case RecordSource::uprobe:
      return "uprobe";
    case RecordSource::kernel:
      return "kernel";
  }
  return "";
}

struct Attempt {
  std::string upstream;  // as nginx's $upstream_addr writes the peer
  Cause cause = Cause::unknown;
  int status = 0;        // what nginx recorded for the attempt (502, 504, upstream's own)
  double ms = -1;        // attempt duration, -1 when unknown
};

struct Record {
  RecordType type = RecordType::gateway_error;
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC of the event that completed the record
  uint32_t pid = 0;    // the nginx worker
  int status = 0;
  Cause cause = Cause::unknown;
  std::string client;    // $remote_addr:$remote_port
  std::string upstream;  // last peer tried, or the group name when none was
  std::vector<std::string> evidence;  // most decisive first
  std::vector<Attempt> attempts;      // every upstream attempt nginx made
  std::string nginx_error;            // nginx's own words for the last failure, if it logged one
  RecordSource source = RecordSource::none;
  std::string request;                // the request line, only with --capture-request
  std::string location;               // the location's name, for an error nginx's configuration made
  // Which services (§ "Which service failed"): cgroup paths as
  // /proc/PID/cgroup shows them, and the systemd unit or container id they
  // name; empty when unknown (the backend's only when it is on this host).
  std::string nginx_cgroup;
  std::string nginx_unit;
  std::string backend_cgroup;
  std::string backend_unit;
};

}  // namespace why502
