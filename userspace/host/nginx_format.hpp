// nginx's format strings, where the log uprobe can read them. They are in
// the read-only data of nginx's binary, whose pages a worker maps only as it
// touches them (fork does not copy a file mapping's page tables), and a
// uprobe cannot fault a page in: a worker's first failure of a kind would
// lose nginx's words, and its arguments' text. So a followed worker's
// read-only data is read once through process_vm_readv, which maps it; and a
// format the uprobe still could not read is read where it stays.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "why502_wire.h"

namespace why502 {

// Maps the read-only data of process pid's binary (and its code, which needs
// no writing either) into its page tables by reading it: its page cache
// pages, no memory is added. Returns the bytes read; 0 when the process is
// gone or may not be read.
size_t map_read_only_data(pid_t pid);

// Whether e's format is unread and can be read at its address.
inline bool format_unread(const w5_ngx_log& e) { return e.fmt[0] == 0 && e.fmt_addr != 0; }

// Fills e.fmt (and e.fmt_rest, as the uprobe does for a longer format) from
// the worker's memory; false when it cannot be read (the worker is gone).
// The arguments stay as the uprobe read them: their text, on the worker's
// stack or in a request since freed, is not read now.
bool read_unread_format(w5_ngx_log& e);

}  // namespace why502
