// Output options (`lock def -o`, `lock capture -o`, `build --depfile`) on
// paths that are not regular files (core/user_file.h, write_user_file): a
// FIFO with a reader, a character device, /dev/stdout and `-` are written
// into, never replaced; a FIFO without a reader is an error at once; a
// symlink is followed, a dangling one refused.
//
// Devices are made with mknod in a temporary directory (the machine's own
// /dev is never written); /dev/stdout is tried only after a symlink to
// /proc/self/fd/1 in a temporary directory (what /dev/stdout is) passed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>

#include "build_fixture.h"
#include "core/lockfile.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

// What makes a directory entry the same node: lstat's device and inode, its
// type and permissions, and the device it stands for.
struct Node {
  dev_t dev;
  ino_t ino;
  mode_t mode;
  dev_t rdev;
  bool operator==(const Node& o) const {
    return dev == o.dev && ino == o.ino && mode == o.mode && rdev == o.rdev;
  }
};
std::optional<Node> node_of(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return Node{st.st_dev, st.st_ino, st.st_mode, st.st_rdev};
}

// A FIFO at path with a reader: opened (non-blocking, so the writer finds a
// reader from the start) before the command runs, read by a thread until
// the writer closes it or, once the command has exited, until it is empty.
class FifoReader {
 public:
  explicit FifoReader(const std::string& path) {
    if (::mkfifo(path.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + path);
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("open " + path);
    thread_ = std::thread([this] { read_all(); });
  }
  ~FifoReader() {
    if (thread_.joinable()) text();
    ::close(fd_);
  }
  // Everything read; call after the writer exited.
  std::string text() {
    writer_done_ = true;
    thread_.join();
    return text_;
  }

 private:
  void read_all() {
    char buf[4096];
    for (;;) {
      struct pollfd p = {fd_, POLLIN, 0};
      bool done = writer_done_;  // before the poll: what the poll saw is then final
      int n = ::poll(&p, 1, 50);
      if (n > 0) {
        ssize_t got = ::read(fd_, buf, sizeof buf);
        if (got > 0) {
          text_.append(buf, static_cast<size_t>(got));
          continue;
        }
        if (got == 0) return;  // the writer closed it
        if (errno != EAGAIN && errno != EINTR) return;
      } else if (done) {
        return;  // the writer exited without opening it, or left nothing more
      }
    }
  }
  int fd_ = -1;
  std::atomic<bool> writer_done_{false};
  std::string text_;
  std::thread thread_;
};

// A character device like /dev/null (1, 3) at path; "" when made, else why
// not (the test then skips).
std::string make_null_device(const std::string& path) {
  if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0)
    return "mknod " + path + " c 1 3 failed: " + std::strerror(errno) +
           " (no CAP_MKNOD here?); the character-device case is not tested";
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return "a device made with mknod cannot be opened here (" + std::string(std::strerror(errno)) +
           ": a nodev mount?); the character-device case is not tested";
  ::close(fd);
  return "";
}

// Runs one output command: `write(path)` must write text to path.
using Writer = std::function<RunResult(const std::string& path)>;

// The cases every output option must pass; `expected` is the text written.
class OutputFile : public ::testing::Test {
 protected:
  void fifo_with_reader(const Writer& write, const std::string& expected) {
    SCOPED_TRACE("a FIFO with a reader");
    std::string path = t_ / "fifo";
    FifoReader reader(path);
    auto before = node_of(path);
    RunResult r = write(path);
    std::string got = reader.text();
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(got, expected);
    EXPECT_EQ(node_of(path), before) << "the FIFO was replaced";
    EXPECT_TRUE(S_ISFIFO(node_of(path)->mode));
    EXPECT_EQ(list_dir(t_.path()), std::vector<std::string>{"fifo"}) << "a temporary was left";
  }

  void character_device(const Writer& write) {
    SCOPED_TRACE("a character device (1, 3) made with mknod");
    std::string path = t_ / "null";
    std::string why = make_null_device(path);
    if (!why.empty()) {
      std::cout << "[  NOTE    ] " << why << "\n";
      return;
    }
    auto before = node_of(path);
    RunResult r = write(path);
    EXPECT_EQ(r.status, 0) << r.err;
    auto after = node_of(path);
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after, before) << "the device was replaced";
    EXPECT_TRUE(S_ISCHR(after->mode));
    EXPECT_EQ(after->rdev, makedev(1, 3));
    ::unlink(path.c_str());
  }

  // A symlink to /proc/self/fd/1 (what /dev/stdout is) in the test
  // directory, then, only when that passed, /dev/stdout itself: the text
  // arrives on the command's standard output, and nothing else does.
  void standard_output(const Writer& write, const std::string& expected) {
    std::string replica = t_ / "stdout";
    ASSERT_EQ(::symlink("/proc/self/fd/1", replica.c_str()), 0);
    for (const std::string& path : {replica, std::string("/dev/stdout")}) {
      SCOPED_TRACE(path);
      auto before = node_of(path);
      ASSERT_TRUE(before.has_value());
      RunResult r = write(path);
      EXPECT_EQ(r.status, 0) << r.err;
      EXPECT_EQ(r.out, expected);
      ASSERT_EQ(node_of(path), before) << path << " was replaced";
    }
    ::unlink(replica.c_str());
  }

  void dash(const Writer& write, const std::string& expected) {
    SCOPED_TRACE("-");
    RunResult r = write("-");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected);
    EXPECT_FALSE(exists(t_ / "-")) << "a file named - was written";
  }

  TempDir t_;
};

// --- lock def -o --------------------------------------------------------

class LockDefOutput : public OutputFile {
 protected:
  void SetUp() override {
    write_file(in_ / "app.def", "Bootstrap: docker\nFrom: debian:12\n%post\n  pip install numpy\n");
    write_file(in_ / "app.lock", "[pip]\nnumpy==2.1.0\n[dpkg]\n[node]\n");
    RunResult r = run({SIFSTORE_EXE, "lock", "def", in_ / "app.def", in_ / "app.lock"});
    ASSERT_EQ(r.status, 0) << r.err;
    text_ = r.out;
    ASSERT_NE(text_.find("numpy==2.1.0"), std::string::npos) << text_;
  }
  RunResult lock_def(const std::string& path) {
    return run({SIFSTORE_EXE, "lock", "def", in_ / "app.def", in_ / "app.lock", "-o", path}, {},
               t_.path());
  }
  Writer writer() {
    return [this](const std::string& path) { return lock_def(path); };
  }
  TempDir in_;
  std::string text_;
};

TEST_F(LockDefOutput, FifoWithAReaderGetsTheText) { fifo_with_reader(writer(), text_); }

TEST_F(LockDefOutput, CharacterDeviceIsWrittenIntoNotReplaced) { character_device(writer()); }

TEST_F(LockDefOutput, DevStdoutIsWrittenThroughStandardOutput) { standard_output(writer(), text_); }

TEST_F(LockDefOutput, DashIsStandardOutput) { dash(writer(), text_); }

TEST_F(LockDefOutput, FifoWithoutAReaderFailsAtOnce) {
  std::string path = t_ / "fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  auto before = node_of(path);
  auto start = std::chrono::steady_clock::now();
  RunResult r = lock_def(path);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_EQ(error_line(r), "sifstore: error: cannot write -o " + path +
                               ": it is a FIFO with no reader: start the reader first");
  EXPECT_LT(seconds, 10.0);
  EXPECT_EQ(node_of(path), before);
  EXPECT_EQ(list_dir(t_.path()), std::vector<std::string>{"fifo"});
}

// A symlink is followed and its target written in place; the atomic replace
// is for a path that is itself a regular file (or new).
TEST_F(LockDefOutput, SymlinkToARegularFileIsWrittenInPlace) {
  write_file(t_ / "target.def", "old content that is longer than nothing\n");
  ASSERT_EQ(::symlink("target.def", (t_ / "link.def").c_str()), 0);
  auto link = node_of(t_ / "link.def");
  auto target = node_of(t_ / "target.def");
  RunResult r = lock_def(t_ / "link.def");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, t_ / "link.def\n");
  EXPECT_EQ(read_file(t_ / "target.def"), text_);
  EXPECT_EQ(node_of(t_ / "link.def"), link) << "the symlink was replaced";
  EXPECT_EQ(node_of(t_ / "target.def"), target) << "the target was replaced, not written into";
  EXPECT_EQ(list_dir(t_.path()), (std::vector<std::string>{"link.def", "target.def"}));
}

TEST_F(LockDefOutput, RegularFileIsReplacedAtomically) {
  write_file(t_ / "out.def", "old\n");
  auto before = node_of(t_ / "out.def");
  RunResult r = lock_def(t_ / "out.def");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(t_ / "out.def"), text_);
  EXPECT_NE(node_of(t_ / "out.def")->ino, before->ino) << "not replaced by a rename";
  EXPECT_EQ(list_dir(t_.path()), std::vector<std::string>{"out.def"}) << "a temporary was left";
}

TEST_F(LockDefOutput, RefusesADanglingSymlinkAndADirectory) {
  ASSERT_EQ(::symlink("missing.def", (t_ / "dangling").c_str()), 0);
  RunResult r = lock_def(t_ / "dangling");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(
      error_line(r), "cannot write -o " + t_ / "dangling" + ": it is a symlink to a missing file"))
      << r.err;
  EXPECT_FALSE(exists(t_ / "missing.def")) << "a file was created through the symlink";
  ::mkdir((t_ / "dir").c_str(), 0755);
  r = lock_def(t_ / "dir");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "-o " + t_ / "dir" + " is a directory")) << r.err;
  EXPECT_EQ(list_dir(t_ / "dir"), std::vector<std::string>{});
}

// --- lock capture -o -----------------------------------------------------

class LockCaptureOutput : public OutputFile {
 protected:
  void SetUp() override {
    std::string missing = sif_tools_missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    std::string root = in_ / "root";
    write_file(root + "/var/lib/dpkg/status",
               "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n");
    make_sif_from_tree(in_ / "img.sif", root);
    RunResult r = run({SIFSTORE_EXE, "lock", "capture", in_ / "img.sif"});
    ASSERT_EQ(r.status, 0) << r.err;
    text_ = r.out;
    ASSERT_NE(text_.find("libc6=2.36-9"), std::string::npos) << text_;
  }
  Writer writer() {
    return [this](const std::string& path) {
      return run({SIFSTORE_EXE, "lock", "capture", in_ / "img.sif", "-o", path}, {}, t_.path());
    };
  }
  TempDir in_;
  std::string text_;
};

TEST_F(LockCaptureOutput, FifoWithAReaderGetsTheLock) { fifo_with_reader(writer(), text_); }

TEST_F(LockCaptureOutput, CharacterDeviceIsWrittenIntoNotReplaced) { character_device(writer()); }

TEST_F(LockCaptureOutput, DevStdoutIsWrittenThroughStandardOutput) {
  standard_output(writer(), text_);
}

TEST_F(LockCaptureOutput, DashIsStandardOutput) { dash(writer(), text_); }

// --- build --depfile --------------------------------------------------------

class DepfileOutput : public BuildChainTest {
 protected:
  // A build of base with --depfile path (target "base.stamp"); its stdout.
  RunResult build_with_depfile(const std::string& path) {
    return build("base", "base.def", {"--depfile", path, "--depfile-target", "base.stamp", "-q"});
  }
  void expect_depfile(const std::string& text) {
    EXPECT_EQ(text.rfind("base.stamp:", 0), 0u) << text;
    EXPECT_TRUE(contains(text, t / "base.def")) << text;
    EXPECT_TRUE(contains(text, t / "data/hello.txt")) << text;
  }
};

TEST_F(DepfileOutput, FifoWithAReaderGetsTheDepfile) {
  std::string path = t / "deps.fifo";
  FifoReader reader(path);
  auto before = node_of(path);
  RunResult r = build_with_depfile(path);
  std::string got = reader.text();
  ASSERT_EQ(r.status, 0) << r.err;
  expect_depfile(got);
  EXPECT_EQ(node_of(path), before) << "the FIFO was replaced";
}

TEST_F(DepfileOutput, CharacterDeviceIsWrittenIntoNotReplaced) {
  std::string path = t / "null";
  std::string why = make_null_device(path);
  if (!why.empty()) GTEST_SKIP() << why;
  auto before = node_of(path);
  RunResult r = build_with_depfile(path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(node_of(path), before) << "the device was replaced";
  EXPECT_EQ(node_of(path)->rdev, makedev(1, 3));
}

TEST_F(DepfileOutput, DevStdoutAndDashAreStandardOutput) {
  std::string replica = t / "stdout";
  ASSERT_EQ(::symlink("/proc/self/fd/1", replica.c_str()), 0);
  for (const std::string& path : {replica, std::string("/dev/stdout"), std::string("-")}) {
    SCOPED_TRACE(path);
    auto before = node_of(path);
    RunResult r = build_with_depfile(path);
    ASSERT_EQ(r.status, 0) << r.err;
    // The depfile, then the build's summary line.
    expect_depfile(r.out);
    EXPECT_TRUE(contains(r.out, "\nsifstore: built base-")) << r.out;
    ASSERT_EQ(node_of(path), before) << path << " was replaced";
    EXPECT_FALSE(exists(t / "-")) << "a file named - was written";
  }
}

}  // namespace
}  // namespace sifstore::test
