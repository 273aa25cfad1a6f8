// `why502 doctor`: can why502 trace on this host? One row per requirement.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace why502 {

struct DoctorOptions {
  // Binaries to check besides the running nginx: a fork under another name
  // (Angie, OpenResty, ...), or an nginx not started yet.
  std::vector<std::string> nginx_binaries;
};

void add_doctor_command(CLI::App& app, DoctorOptions& options);
// Prints the table; 0 when tracing will work, 1 when it will not.
int run_doctor(const DoctorOptions& options);

}  // namespace why502
