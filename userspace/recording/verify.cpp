#include "recording/verify.hpp"

#include <map>
#include <string_view>
#include <utility>

namespace why502::recording {
namespace {

using Members = std::vector<std::pair<std::string, std::string>>;

// The raw text of a JSON string, number, array or object starting at i; i is
// left after it. Enough for what record_to_json writes.
bool skip_value(std::string_view json, size_t& i) {
  int depth = 0;
  bool in_string = false;
  for (; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') ++depth;
    else if ((c == ']' || c == '}') && depth > 0) --depth;
    else if ((c == ',' || c == '}') && depth == 0) return true;
  }
  return false;
}

// The top-level members of one JSON object, key → raw value; empty when the
// text is not an object.
Members members_of(std::string_view json) {
  Members out;
  size_t i = 0;
  if (json.empty() || json[0] != '{') return {};
  ++i;
  while (i < json.size() && json[i] == '"') {
    const size_t key_end = json.find('"', i + 1);
    if (key_end == std::string_view::npos || key_end + 1 >= json.size() || json[key_end + 1] != ':') return {};
    std::string key(json.substr(i + 1, key_end - i - 1));
    const size_t value_start = key_end + 2;
    i = value_start;
    if (!skip_value(json, i)) return {};
    out.emplace_back(std::move(key), std::string(json.substr(value_start, i - value_start)));
    if (json[i] == '}') break;
    ++i;  // the comma
  }
  return out;
}

std::string member(const Members& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  return "-";
}

// A record's identity: the same error seen twice has the same time, worker and client.
std::string identity_of(const Members& m) {
  return member(m, "ts") + " pid " + member(m, "pid") + " client " + member(m, "client");
}

std::string shortened(const std::string& value) {
  constexpr size_t kMax = 120;
  return value.size() <= kMax ? value : value.substr(0, kMax) + "...";
}

std::string summary_of(const Members& m) {
  return identity_of(m) + " " + member(m, "type") + " " + member(m, "status") + " " + member(m, "cause");
}

}  // namespace

Verification compare_records(const std::vector<std::string>& live, const std::vector<std::string>& replayed) {
  Verification v;
  v.live = live.size();
  v.replayed = replayed.size();
  // Identical records first: what is left differs.
  std::multimap<std::string, size_t> unmatched_live;
  for (size_t i = 0; i < live.size(); ++i) unmatched_live.emplace(live[i], i);
  std::vector<const std::string*> only_replayed;
  for (const std::string& r : replayed) {
    auto it = unmatched_live.find(r);
    if (it == unmatched_live.end()) {
      only_replayed.push_back(&r);
      continue;
    }
    unmatched_live.erase(it);
    ++v.same;
  }
  std::multimap<std::string, Members> live_by_identity;
  for (const auto& [text, index] : unmatched_live) {
    Members m = members_of(text);
    live_by_identity.emplace(identity_of(m), std::move(m));
  }
  for (const std::string* text : only_replayed) {
    const Members r = members_of(*text);
    auto it = live_by_identity.find(identity_of(r));
    if (it == live_by_identity.end()) {
      v.differences.push_back("only replayed: " + summary_of(r));
      continue;
    }
    const Members& l = it->second;
    std::string line = "differs: " + identity_of(r) + ":";
    std::map<std::string, std::pair<std::string, std::string>> fields;
    for (const auto& [k, value] : l) fields[k].first = value;
    for (const auto& [k, value] : r) fields[k].second = value;
    bool first = true;
    for (const auto& [k, values] : fields) {
      if (values.first == values.second) continue;
      // A key a later why502 added, null here: the same as absent in a record an earlier one wrote.
      if ((values.first.empty() && values.second == "null") || (values.first == "null" && values.second.empty()))
        continue;
      line += std::string(first ? " " : "; ") + k + " live " + (values.first.empty() ? "absent" : shortened(values.first)) +
              ", replayed " + (values.second.empty() ? "absent" : shortened(values.second));
      first = false;
    }
    const bool key_sets_differ = r.size() != l.size();
    live_by_identity.erase(it);  // l is gone from here on
    if (first && key_sets_differ) {
      ++v.same;  // only keys absent on one side and null on the other
      continue;
    }
    if (first) line += " the same fields, written differently";
    v.differences.push_back(line);
  }
  for (const auto& [identity, m] : live_by_identity) v.differences.push_back("only live: " + summary_of(m));
  return v;
}

}  // namespace why502::recording
