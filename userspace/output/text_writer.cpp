#include "output/record_sink.hpp"

namespace why502 {
namespace {

class TextSink final : public RecordSink {
 public:
  TextSink(std::ostream& out, WallClock clock) : out_(out), clock_(clock) {}
  void write(const Record& r) override {
    out_ << format_rfc3339_us(clock_.to_realtime_ns(r.ts_ns)) << ' ';
    if (r.type != RecordType::gateway_error) out_ << record_type_name(r.type) << ' ';
    if (r.status != 0)
      out_ << r.status;
    else
      out_ << '-';
    out_ << ' ' << cause_name(r.cause) << " client=" << (r.client.empty() ? "-" : r.client)
         << " upstream=" << (r.upstream.empty() ? "-" : r.upstream) << " pid=" << r.pid;
    // The services, short: a unit or container id, else the path.
    if (!r.nginx_cgroup.empty()) out_ << " cgroup=" << (r.nginx_unit.empty() ? r.nginx_cgroup : r.nginx_unit);
    if (!r.backend_cgroup.empty())
      out_ << " backend_cgroup=" << (r.backend_unit.empty() ? r.backend_cgroup : r.backend_unit);
    if (!r.evidence.empty()) out_ << " — " << r.evidence.front();
    out_ << '\n';
    for (size_t i = 1; i < r.evidence.size(); ++i) out_ << "    " << r.evidence[i] << '\n';
  }
  void flush() override { out_.flush(); }

 private:
  std::ostream& out_;
  WallClock clock_;
};

}  // namespace

std::unique_ptr<RecordSink> make_text_sink(std::ostream& out, WallClock clock) {
  return std::make_unique<TextSink>(out, clock);
}

}  // namespace why502
