// `why502 report`: re-attribute a recording and summarise it.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace why502 {

struct ReportOptions {
  std::vector<std::string> files;
  std::string format = "text";
  std::string since, until;  // RFC 3339
  std::string output;
  bool strict = false;  // a corrupt block is an error instead of skipped
  bool verify = false;  // compare the live records with the replayed ones
};

void add_report_command(CLI::App& app, ReportOptions& options);
int run_report(const ReportOptions& options);

}  // namespace why502
