// Test helpers: a scratch directory removed at the end of a test, small file
// makers, and running the built `sifstore`.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sifstore::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when the object goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Creates parent directories as needed.
void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);
bool exists(const std::string& path);  // lstat: a dangling symlink exists
// Sorted names in a directory (everything, hidden files included).
std::vector<std::string> list_dir(const std::string& path);

// The result of running a command.
struct RunResult {
  int status = -1;  // exit status, or 128+signal
  std::string out;
  std::string err;
};

// Runs argv (no shell) with optional extra environment "K=V" entries.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              const std::string& cwd = "");

// Runs the built sifstore with --root root and args.
RunResult sifstore(const std::string& root, const std::vector<std::string>& args);

}  // namespace sifstore::test

namespace sifstore::test {
// Every path under root (recursively, not following symlinks) with its
// content or symlink target: compare two snapshots to assert a tree is
// unchanged.
std::map<std::string, std::string> snapshot(const std::string& root);
}  // namespace sifstore::test
