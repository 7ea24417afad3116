// The one place that touches the disk.
//
// All store I/O goes through a Dir: an open directory handle. Names passed to
// a Dir are single path components, resolved relative to the handle with
// O_NOFOLLOW, so no operation here ever writes, deletes or reads through a
// symlink or outside the directory it was given. Files are opened
// O_NONBLOCK and checked to be regular, so a FIFO planted in a store never
// blocks SifStore. Writes are crash-safe: a temporary hidden name is written,
// fsync'ed and renamed over the final name, then the directory is fsync'ed.
//
// A Dir also carries the store's sharing (core/shared_perm.h): every file
// and directory created through it, and every regular file renamed within
// it (what a builder wrote, published), gets the permissions store.shared
// asks for. Subdirectories inherit it; Dir::open gives kUmask.
//
// A failure for want of permission (EACCES, EPERM) names the file and the
// right missing: "cannot write <path>: permission denied (needs write
// permission on directory <dir>)".
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/shared_perm.h"

namespace sifstore {

// One entry of a directory scan: its name and the type readdir reported
// (DT_REG, DT_LNK, DT_DIR, ... or DT_UNKNOWN on filesystems that do not say).
struct DirEntry {
  std::string name;
  unsigned char type;
};

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release();
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

class Dir {
 public:
  // Opens a directory by path. The path itself may pass through symlinks (the
  // user named it); everything below it is reached without following any.
  // Throws Error when it does not exist or is not a directory.
  static Dir open(const std::string& path);
  // Like open(), but creates the directory (and its parents) first.
  static Dir open_or_create(const std::string& path);
  // The directories open_or_create(path) would create now, deepest first:
  // give them to remove_empty() when what they were made for failed.
  static std::vector<std::string> missing(const std::string& path);
  // Removes each of `paths` (deepest first) that is still an empty
  // directory; rmdir never follows a symlink. Best effort, never throws.
  static void remove_empty(const std::vector<std::string>& paths) noexcept;
  // Returns nullopt when the path does not exist.
  static std::optional<Dir> open_if_exists(const std::string& path);

  // The path this handle was opened with, for messages.
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  // path() + "/" + name.
  std::string path_of(std::string_view name) const;

  // How what is created through this handle (and its subdirectories) is
  // shared; kUmask unless set.
  SharedMode shared() const { return shared_; }
  void set_shared(SharedMode shared) { shared_ = shared; }

  // Opens name with O_CREAT | flags (plus O_NOFOLLOW and O_CLOEXEC) and
  // `mode`, giving a file it created, or one of this process's, the
  // shared permissions. Throws "<what>: <reason>", naming the right missing
  // when permission is denied.
  Fd create_file(const std::string& name, int flags, mode_t mode, const std::string& what) const;

  // A subdirectory, never through a symlink. nullopt when it does not exist;
  // throws Error when it is a symlink or not a directory.
  std::optional<Dir> subdir(const std::string& name) const;
  // Like subdir(), creating it first when missing.
  Dir subdir_or_create(const std::string& name) const;

  // One pass of readdir over the directory: no stat of any entry. "." and
  // ".." are left out.
  std::vector<DirEntry> scan() const;
  // The same pass, handing each entry's name and type to visit() instead of
  // collecting them: no allocation per entry, for directories of many
  // thousands of files. The name is valid only during the call.
  void scan(const std::function<void(std::string_view name, unsigned char type)>& visit) const;

  // lstat-like: the file type of an entry without following a symlink
  // (S_IFREG, S_IFLNK, ...), or nullopt when it does not exist.
  std::optional<mode_t> type_of(const std::string& name) const;
  bool exists(const std::string& name) const { return type_of(name).has_value(); }
  // Whether name exists after following a symlink (a dangling symlink does
  // not): metadata only, nothing is opened through the link.
  bool resolves(const std::string& name) const;

  // The target text of a symlink, or nullopt when the entry is missing or is
  // not a symlink.
  std::optional<std::string> read_link(const std::string& name) const;

  // The content of a regular file (never following a symlink, never blocking
  // on a FIFO). Throws Error when it is not a regular file or is larger than
  // max_bytes; nullopt when it does not exist.
  std::optional<std::string> read_file(const std::string& name, size_t max_bytes = 64u << 20) const;

  // Writes content to name atomically: a hidden temporary in the same
  // directory, fsync, rename over name, fsync of the directory.
  void write_file_atomic(const std::string& name, std::string_view content) const;
  // Creates name exclusively with content; false when it already exists. The
  // content is written and synced under a temporary name first, then linked
  // to name (linkat fails when name exists), so no reader ever sees the file
  // empty or half-written.
  bool create_exclusive(const std::string& name, std::string_view content) const;
  // Replaces name with a symlink to target atomically (temporary symlink,
  // rename over name, fsync of the directory).
  void symlink_atomic(const std::string& name, const std::string& target) const;
  // Renames an entry within this directory (renameat). A regular file is
  // fsync'ed first, so its new name never shows content that is not on disk
  // (the build chain publishes what the builder wrote this way), and given
  // the shared permissions when it is this process's; the directory is not
  // synced: call fsync() after the renames. Throws on failure.
  void rename(const std::string& from, const std::string& to) const;
  // Removes a file or symlink (never a directory's content, never through a
  // symlink). false when it did not exist; throws on any other failure.
  bool unlink(const std::string& name) const;
  // Removes an empty subdirectory; false when missing or not empty.
  bool rmdir(const std::string& name) const;
  void fsync() const;

 private:
  Dir(Fd fd, std::string path, SharedMode shared = SharedMode::kUmask)
      : fd_(std::move(fd)), path_(std::move(path)), shared_(shared) {}
  // Writes content to a fresh hidden temporary for name and syncs it;
  // returns the temporary's name (removed again on failure).
  std::string write_temp_for(const std::string& name, std::string_view content) const;
  // The Error for a failure `err` to create, rename or remove an entry of
  // this directory: on EACCES or EPERM, "<what>: permission denied (needs
  // write permission on directory <path>)".
  Error entry_error(const std::string& what, int err) const;
  Fd fd_;
  std::string path_;
  SharedMode shared_ = SharedMode::kUmask;
};

// The Error for a failure `err` to open an existing `path`: on EACCES or
// EPERM, "<what>: permission denied (needs <right> permission on <path>)";
// otherwise "<what>: <strerror>".
Error access_error(const std::string& what, const std::string& path, const char* right, int err);

// Writes all of content to fd (retrying short writes and EINTR); throws
// "cannot write <what>: <reason>".
void write_all(int fd, std::string_view content, const std::string& what);

// The whole content of the open file fd, which must be a regular file of at
// most max_bytes; `label` names it in errors ("<label> is not a regular
// file"). Shared by Dir::read_file and reading files users name.
std::string read_regular_file(int fd, const std::string& label, size_t max_bytes);

// A hidden temporary name for `name` in the same directory:
// ".<name>.tmp.<pid>.<counter>", unique within this process. A killed process
// with the same pid (on another host sharing the store, or before the pid was
// reused) may have left one of these names: write_file_atomic and
// symlink_atomic then take the next.
std::string temp_name_for(const std::string& name);

}  // namespace sifstore
