#include "output/top_view.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

namespace why502 {
namespace {

constexpr size_t kLatest = 12;

std::vector<std::pair<std::string, uint64_t>> by_count(const std::map<std::string, uint64_t>& counts) {
  std::vector<std::pair<std::string, uint64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  return sorted;
}

std::string clip(std::string line, int width) {
  if (width > 0 && line.size() > static_cast<size_t>(width)) line.resize(static_cast<size_t>(width));
  return line;
}

}  // namespace

void TopView::add(const Record& record) {
  if (record.type == RecordType::gateway_error) recent_.push_back(record);
  latest_.push_back(record);
  if (latest_.size() > kLatest) latest_.pop_front();
}

std::string TopView::render(uint64_t now_ns, uint64_t events, uint64_t lost, int width, int height) {
  while (!recent_.empty() && now_ns > recent_.front().ts_ns && now_ns - recent_.front().ts_ns > window_ns_)
    recent_.pop_front();
  std::map<std::string, uint64_t> causes, upstreams;
  for (const Record& r : recent_) {
    ++causes[std::string(cause_name(r.cause))];
    ++upstreams[r.upstream.empty() ? "-" : r.upstream];
  }
  const double window_s = static_cast<double>(window_ns_) / 1e9;
  std::vector<std::string> lines;
  char buf[256];
  snprintf(buf, sizeof(buf), "why502 top  %s  events %llu  lost %llu%s   (q quits)",
           format_rfc3339_us(clock_.to_realtime_ns(now_ns)).substr(0, 19).c_str(),
           static_cast<unsigned long long>(events), static_cast<unsigned long long>(lost),
           lost ? "  EVENTS LOST" : "");
  lines.push_back(buf);
  snprintf(buf, sizeof(buf), "gateway errors/s over the last %.0f s: %.1f", window_s,
           static_cast<double>(recent_.size()) / window_s);
  lines.push_back(buf);
  lines.push_back("");
  snprintf(buf, sizeof(buf), "%-22s %8s    %-34s %8s", "cause", "errors/s", "upstream", "errors/s");
  lines.push_back(buf);
  const auto c = by_count(causes), u = by_count(upstreams);
  for (size_t i = 0; i < std::max<size_t>(std::min<size_t>(std::max(c.size(), u.size()), 8), 1); ++i) {
    std::string left = i < c.size() ? c[i].first : (i == 0 ? "(none)" : "");
    std::string left_rate = i < c.size() ? std::to_string(c[i].second / window_s).substr(0, 6) : "";
    std::string right = i < u.size() ? u[i].first : "";
    std::string right_rate = i < u.size() ? std::to_string(u[i].second / window_s).substr(0, 6) : "";
    snprintf(buf, sizeof(buf), "%-22s %8s    %-34s %8s", left.c_str(), left_rate.c_str(), right.c_str(),
             right_rate.c_str());
    lines.push_back(buf);
  }
  lines.push_back("");
  lines.push_back("latest:");
  for (auto it = latest_.rbegin(); it != latest_.rend(); ++it) {
    const Record& r = *it;
    std::string line = "  " + format_rfc3339_us(clock_.to_realtime_ns(r.ts_ns)).substr(11, 12) + " " +
                       (r.type == RecordType::gateway_error ? "" : std::string(record_type_name(r.type)) + " ") + (r.status ? std::to_string(r.status) : "-") +
                       " " + std::string(cause_name(r.cause)) + " " + (r.upstream.empty() ? "-" : r.upstream) +
                       " client=" + (r.client.empty() ? "-" : r.client);
    if (!r.evidence.empty()) line += " — " + r.evidence.front();
    lines.push_back(line);
  }
  std::ostringstream out;
  for (size_t i = 0; i < lines.size() && (height <= 0 || static_cast<int>(i) < height); ++i)
    out << clip(lines[i], width) << "\n";
  return out.str();
}

}  // namespace why502
