// Files of records (trace -o, serve --log) are created 0600, as recordings
// are: records name clients and upstreams.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "common/fatal_error.hpp"

namespace why502 {

// Opens path for writing (mode: std::ios::trunc or std::ios::app). A file that
// does not exist yet is created 0600 whatever the umask allows; an existing
// file keeps its mode, which its owner chose (a log shipper's group may read
// it), and is not chmod-ed behind their back.
inline void open_private_output(std::ofstream& file, const std::string& path, std::ios::openmode mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw FatalError("cannot write " + path + ": " + std::strerror(errno));
  close(fd);
  file.open(path, std::ios::out | mode);
  if (!file) throw FatalError("cannot write " + path);
}

}  // namespace why502
