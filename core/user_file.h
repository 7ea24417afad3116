// Reading a file the user named on the command line.
//
// Store files are read through a Dir (core/fs.h), which never follows a
// symlink. A path the user gives (a lock, a definition file, a stable
// pointer such as `<layer>.lock` beside `<layer>.sif`) may be a symlink, so
// it is opened by path; but it is opened O_NONBLOCK and must be a regular
// file, so a FIFO or a device named by mistake never blocks or floods
// SifStore.
#pragma once

#include <cstddef>
#include <string>

namespace sifstore {

// The content of the regular file at path. `what` names it in errors
// ("lock file", "definition file"): "cannot read lock file x.lock: No such
// file or directory", "definition file /dev/zero is not a regular file".
// Throws Error when it is missing, not a regular file, or larger than
// max_bytes.
std::string read_user_file(const std::string& path, const std::string& what,
                           size_t max_bytes = 64u << 20);

}  // namespace sifstore
