// What an nginx binary says about itself in `nginx -V`: its version and its
// configure arguments, read from the string literals in its .rodata.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace why502 {

struct NginxBuildInfo {
  std::string server;     // "nginx" (a fork may name itself otherwise); "" if not found
  std::string version;    // "1.31.4"; "" if not found
  std::string configure;  // the arguments as `nginx -V` prints them; "" if none
  std::vector<std::string> arguments;  // configure, split as the shell would
  // The --with-*/--without-* arguments that build modules or features in
  // statically: no paths, compiler options or =dynamic modules. Sorted.
  std::vector<std::string> features;
  bool has(const std::string& argument) const;  // in arguments
};

// From the bytes of an nginx binary's .rodata: nginx.c prints
// "nginx version: " NGINX_VER_BUILD and "configure arguments:" NGX_CONFIGURE,
// each one NUL-terminated literal there.
NginxBuildInfo parse_nginx_build_info(const std::string& rodata);

// The error says why the binary's .rodata could not be read.
Result<NginxBuildInfo> read_nginx_build_info(const std::string& binary_path);

// "1.31.4" -> 1031004; 0 if it does not read as MAJOR.MINOR.PATCH.
unsigned nginx_version_number(const std::string& version);

}  // namespace why502
