// Reading and writing a file the user named on the command line.
//
// Store files are read and written through a Dir (core/fs.h), which never
// follows a symlink. A path the user gives (a lock, a definition file, a
// stable pointer such as `<layer>.lock` beside `<layer>.sif`, an output of
// `-o` or `--depfile`) is the user's: it may be a symlink, so it is opened
// by path, as Unix tools open it. Reading, it is opened O_NONBLOCK and must
// be a regular file, so a FIFO or a device named by mistake never blocks or
// floods SifStore. Writing, it is written the way its kind of file is
// written (write_user_file), and a device or a FIFO is never replaced.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sifstore {

// The content of the regular file at path. `what` names it in errors
// ("lock file", "definition file"): "cannot read lock file x.lock: No such
// file or directory", "definition file /dev/zero is not a regular file".
// Throws Error when it is missing, not a regular file, or larger than
// max_bytes.
std::string read_user_file(const std::string& path, const std::string& what,
                           size_t max_bytes = 64u << 20);

// Where write_user_file() put the text.
enum class UserFileWritten {
  kReplaced,        // a regular file (or a new one) replaced atomically
  kWrittenInto,     // an existing file that is not a regular file, or a symlink's target
  kStandardOutput,  // "-", or a path that is this process's standard output
};

// Writes text to the output file the user named (`-o FILE`, `--depfile
// FILE`), by what the path is now (not following a symlink to decide):
//
//   "-"                      standard output
//   missing, a regular file  replaced atomically: a temporary in the same
//                            directory, fsync, rename over it, fsync of the
//                            directory (Dir::write_file_atomic)
//   a character device,      written into, never replaced: opened for
//   a FIFO (/dev/null)       writing without creating or truncating it
//   a symlink (/dev/stdout)  followed, as Unix tools follow it, and its
//                            target written into: a device or FIFO as above,
//                            a regular file truncated and rewritten in
//                            place (the link and the target's inode and
//                            permissions stay; name the file itself for an
//                            atomic replace). A target that is this
//                            process's standard output (/dev/stdout,
//                            /dev/fd/1) is written through standard output,
//                            at its offset, without truncating it.
//
// Refused, with an Error naming `what` and the path: a directory, a block
// device, a socket, a symlink to a missing file (no file is created through
// a symlink) and a FIFO that no process is reading: it is opened
// O_NONBLOCK, so it fails at once instead of waiting for a reader
// ("... is a FIFO with no reader: start the reader first"). Once open, a
// FIFO is written blocking, as a pipe is.
UserFileWritten write_user_file(const std::string& path, std::string_view text,
                                const std::string& what);

}  // namespace sifstore
