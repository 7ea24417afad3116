// Running external programs: the builder (apptainer, or whatever the user
// names) and the package managers inside an image.
//
// Children run in sifstore's own process group, so a terminal's Ctrl-C or a
// `kill` of the group reaches them too, and with PR_SET_PDEATHSIG so that a
// builder never outlives a sifstore killed with SIGKILL. No shell is
// involved: a command line is split into words the way a POSIX shell would
// (quotes, backslashes), and the first word is looked up in PATH.
#pragma once

#include <string>
#include <vector>

namespace sifstore {

// Splits a command line such as `apptainer --debug` or
// `"/opt/my tools/apptainer"` into words. Throws Error on an unclosed quote.
std::vector<std::string> split_command_line(const std::string& command_line);

// The absolute path of a program: argv0 itself when it contains a '/',
// else the first executable match in PATH. Throws Error naming the program
// and what to do when there is none.
std::string find_program(const std::string& argv0, const std::string& role);

// The exit status of a child: its exit code, or 128 + the signal that
// killed it.
struct ExitStatus {
  int code = 0;
  bool signaled = false;
  bool ok() const { return code == 0 && !signaled; }
  std::string describe() const;  // "exit status 3" / "killed by signal 9"
};

// Runs argv in cwd (empty: the current directory). Its stdout and stderr go
// to log_fd, and also to echo_fd unless echo_fd < 0. SIGINT/SIGTERM/SIGHUP
// received meanwhile are forwarded to the child; `interrupted` tells whether
// one arrived. Each non-empty string of `redact` (secret values) is written
// as "<secret>" wherever the output holds it.
struct StreamedRun {
  ExitStatus status;
  bool interrupted = false;
};
StreamedRun run_streamed(const std::vector<std::string>& argv, const std::string& cwd, int log_fd,
                         int echo_fd, const std::vector<std::string>& redact = {});

// Runs argv with stdin from /dev/null and returns what it printed. Output
// beyond max_bytes is an Error (a runaway program). With timeout_ms >= 0, a
// program still running after that long is killed (SIGKILL) and the result
// says timed_out, with what it printed until then.
struct CapturedRun {
  ExitStatus status;
  std::string out;
  std::string err;
  bool timed_out = false;
};
CapturedRun run_captured(const std::vector<std::string>& argv, size_t max_bytes = 256u << 20,
                         int timeout_ms = -1);

// A fault-injection point for the kill tests: when $SIFSTORE_DEBUG_STOP_AT
// names this step, the process stops itself (SIGSTOP) there, so a test can
// kill it at exactly that point (the steps: core/chain.h).
void debug_stop_point(const char* step);

}  // namespace sifstore
