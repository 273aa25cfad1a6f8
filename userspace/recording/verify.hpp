// `report --verify`: the records a recording kept as they were reported live,
// against the records its events give when the engine runs over them again.
#pragma once

#include <string>
#include <vector>

namespace why502::recording {

struct Verification {
  size_t live = 0, replayed = 0, same = 0;
  // One line per difference: a record only one side has, or a record both
  // have (same time, pid and client) whose fields differ, naming the fields.
  std::vector<std::string> differences;
};

// Both sides are records as record_to_json writes them, in any order.
Verification compare_records(const std::vector<std::string>& live, const std::vector<std::string>& replayed);

}  // namespace why502::recording
