// `why502 report`'s engine pass: the recorded events through the attribution
// engine again, gathered into a Report. The report command and the recording
// fuzzer share it, so a corrupt recording is fuzzed down the path it takes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attribution/engine.hpp"
#include "common/result.hpp"
#include "attribution/event_pump.hpp"
#include "output/report.hpp"
#include "recording/reader.hpp"

namespace why502::recording {

class Replay {
 public:
  Replay() = default;
  Replay(const Replay&) = delete;  // its pump drives its own engine
  Replay& operator=(const Replay&) = delete;
  // One file's contents, files in recording order. The error (naming the
  // file) says a recorded event is invalid; the replay is then unusable.
  Result<void> add(const std::string& file, const Contents& contents);
  // Ends the engine pass: the records within [since, until) of wall-clock
  // time, summarised.
  Report finish(std::optional<int64_t> since, std::optional<int64_t> until);
  // The records as they were reported live, kept by the recordings (JSON).
  const std::vector<std::string>& live_records() const { return live_records_; }

 private:
  Engine engine_;
  EventPump pump_{engine_, {}};  // recordings hold the events as the engine saw them: nothing to add
  Report report_;
  std::vector<std::string> live_records_;
  bool have_clock_ = false;
};

}  // namespace why502::recording
