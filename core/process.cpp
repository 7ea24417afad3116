#include "core/process.h"

#include <algorithm>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options/parsers.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/fs.h"

namespace sifstore {
namespace {

std::atomic<pid_t> g_child{0};
std::atomic<bool> g_interrupted{false};

extern "C" void forward_signal(int sig) {
  g_interrupted = true;
  pid_t child = g_child.load();
  if (child > 0) ::kill(child, sig);
}

// Installs forwarding handlers for the lifetime of one child.
class SignalForwarder {
 public:
  explicit SignalForwarder(pid_t child) {
    g_interrupted = false;
    g_child = child;
    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~SignalForwarder() {
    for (size_t i = 0; i < 3; ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
    g_child = 0;
  }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3];
};

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // a closed terminal must not stop the build; the log is what counts
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// The ExitStatus of a wait status.
ExitStatus exit_status(int status) {
  ExitStatus s;
  if (WIFSIGNALED(status)) {
    s.signaled = true;
    s.code = 128 + WTERMSIG(status);
  } else {
    s.code = WEXITSTATUS(status);
  }
  return s;
}

ExitStatus wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw system_error("waitpid");
  }
  return exit_status(status);
}

// fork + exec with the given stdout/stderr descriptors; never returns in
// the child.
pid_t spawn(const std::vector<std::string>& argv, const std::string& cwd, int out_fd, int err_fd) {
  std::string program = find_program(argv.at(0), "program");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw system_error("cannot start " + argv[0]);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(127);
    ::execv(program.c_str(), cargv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

void debug_stop_point(const char* step) {
  const char* at = std::getenv("SIFSTORE_DEBUG_STOP_AT");
  if (!at || std::strcmp(at, step) != 0) return;
  std::string msg = std::string("sifstore: stopped at ") + step + "\n";
  if (::write(STDERR_FILENO, msg.data(), msg.size()) < 0) {
  }
  ::raise(SIGSTOP);
}

std::string ExitStatus::describe() const {
  if (signaled) return "killed by signal " + std::to_string(code - 128);
  return "exit status " + std::to_string(code);
}

std::vector<std::string> split_command_line(const std::string& command_line) {
  // A lone quote is the one thing split_unix accepts silently.
  bool in_single = false, in_double = false;
  for (size_t i = 0; i < command_line.size(); ++i) {
    char c = command_line[i];
    if (c == '\\' && !in_single) {
      ++i;
    } else if (c == '\'' && !in_double) {
      in_single = !in_single;
    } else if (c == '"' && !in_single) {
      in_double = !in_double;
    }
  }
  if (in_single || in_double) throw Error("unclosed quote in command line: " + command_line);
  auto words = boost::program_options::split_unix(command_line);
  std::vector<std::string> out;
  for (auto& w : words)
    if (!w.empty()) out.push_back(std::move(w));
  return out;
}

std::string find_program(const std::string& argv0, const std::string& role) {
  if (argv0.empty()) throw Error("empty " + role + " command");
  auto executable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (argv0.find('/') != std::string::npos) {
    if (executable(argv0)) return argv0;
    throw Error(role + " '" + argv0 + "' not found or not executable");
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + argv0;
    if (executable(candidate)) return candidate;
    start = end + 1;
  }
  throw Error(role + " '" + argv0 + "' not found in PATH");
}

StreamedRun run_streamed(const std::vector<std::string>& argv, const std::string& cwd, int log_fd,
                         int echo_fd, const std::vector<std::string>& redact) {
  // Redaction: every occurrence of a value is replaced before anything is
  // written; the last (longest value - 1) bytes wait for the next read, as
  // they may begin an occurrence.
  size_t longest = 0;
  for (const auto& v : redact) longest = std::max(longest, v.size());
  std::string pending;
  auto emit = [&](bool all) {
    for (const auto& v : redact) {
      if (v.empty()) continue;
      for (size_t at = pending.find(v); at != std::string::npos; at = pending.find(v, at + 8))
        pending.replace(at, v.size(), "<secret>");
    }
    size_t keep = all || longest == 0 ? 0 : std::min(pending.size(), longest - 1);
    size_t n = pending.size() - keep;
    if (n == 0) return;
    write_all(log_fd, pending.data(), n);
    if (echo_fd >= 0) write_all(echo_fd, pending.data(), n);
    pending.erase(0, n);
  };
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw system_error("pipe");
  Fd read_end(p[0]);
  pid_t pid;
  {
    Fd write_end(p[1]);
    pid = spawn(argv, cwd, write_end.get(), write_end.get());
  }
  StreamedRun result;
  {
    SignalForwarder forward(pid);
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(read_end.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (n == 0) break;
      pending.append(buf, static_cast<size_t>(n));
      emit(false);
    }
    emit(true);
    result.status = wait_child(pid);
    result.interrupted = g_interrupted.load();
  }
  return result;
}

CapturedRun run_captured(const std::vector<std::string>& argv, size_t max_bytes, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw system_error("pipe");
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw system_error("pipe");
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);
  pid_t pid = spawn(argv, "", out_w.get(), err_w.get());
  out_w = Fd();
  err_w = Fd();
  CapturedRun r;
  SignalForwarder forward(pid);
  struct pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_count = 2;
  bool too_much = false;
  char buf[65536];
  while (open_count > 0) {
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        r.timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left.count());
    }
    int ready = ::poll(fds, 2, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (ready == 0) continue;  // the deadline, checked above
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (sinks[i]->size() + static_cast<size_t>(n) > max_bytes) {
          too_much = true;
          open_count = 0;
          break;
        } else {
          sinks[i]->append(buf, static_cast<size_t>(n));
        }
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  if (too_much || r.timed_out) {
    // Closing the pipes stops any grandchild with SIGPIPE; the child itself
    // is killed.
    out_r = Fd();
    err_r = Fd();
    ::kill(pid, SIGKILL);
    r.status = wait_child(pid);
    if (r.timed_out) return r;
    throw Error(argv[0] + " printed more than " + std::to_string(max_bytes) + " bytes");
  }
  // A child that closed its output but goes on running is bounded too.
  while (timeout_ms >= 0) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      r.status = exit_status(status);
      return r;
    }
    if (done < 0 && errno != EINTR) throw system_error("waitpid");
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    ::usleep(10000);
  }
  r.status = wait_child(pid);
  return r;
}

}  // namespace sifstore
