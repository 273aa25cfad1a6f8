// `why502 doctor`: can why502 trace on this host? One row per requirement.
#pragma once

namespace CLI {
class App;
}

namespace why502 {

struct DoctorOptions {};

void add_doctor_command(CLI::App& app, DoctorOptions& options);
// Prints the table; 0 when tracing will work, 1 when it will not.
int run_doctor(const DoctorOptions& options);

}  // namespace why502
