// Where records go: one small writer per format behind one interface.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "attribution/record.hpp"
#include "output/clock.hpp"

namespace why502 {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void write(const Record& record) = 0;
  // Once after each batch of records: a storm then costs one write(2) per
  // read of the ring, not one per record.
  virtual void flush() = 0;
};

enum class OutputFormat { text, json };

std::unique_ptr<RecordSink> make_json_sink(std::ostream& out, WallClock clock);
std::unique_ptr<RecordSink> make_text_sink(std::ostream& out, WallClock clock);

// s as a JSON string literal, quotes included; bytes outside printable ASCII
// (nginx's memory is not trusted to be UTF-8) become \u00XX.
std::string json_quote(std::string_view s);

// One record as a JSON object (no trailing newline).
std::string record_to_json(const Record& record, const WallClock& clock);
// The same, appended to out (a batch of records being written).
void append_record_json(std::string& out, const Record& record, const WallClock& clock);

}  // namespace why502
