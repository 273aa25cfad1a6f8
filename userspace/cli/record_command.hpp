// `why502 record`: trace live and write a recording for postmortems.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/live_session.hpp"

namespace CLI {
class App;
}

namespace why502 {

struct RecordOptions {
  LiveOptions live;
  std::string output;
  std::string rotate;  // "64M", "1G", bytes; empty: no rotation
};

void add_record_command(CLI::App& app, RecordOptions& options);
int run_record(const RecordOptions& options);

// "512K", "64M", "2G" or a byte count → bytes; nullopt when malformed.
std::optional<uint64_t> parse_size(const std::string& text);

}  // namespace why502
