#include "core/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "core/error.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

TEST(SplitCommandLine, WordsAndQuotes) {
  EXPECT_EQ(split_command_line("apptainer"), (std::vector<std::string>{"apptainer"}));
  EXPECT_EQ(split_command_line("  srun -p build  apptainer "),
            (std::vector<std::string>{"srun", "-p", "build", "apptainer"}));
  EXPECT_EQ(split_command_line("\"/opt/my tools/apptainer\" --debug"),
            (std::vector<std::string>{"/opt/my tools/apptainer", "--debug"}));
  EXPECT_EQ(split_command_line("a 'b c' d\\ e"), (std::vector<std::string>{"a", "b c", "d e"}));
  EXPECT_THROW(split_command_line("a 'b"), Error);
  EXPECT_TRUE(split_command_line("").empty());
}

TEST(FindProgram, PathAndErrors) {
  EXPECT_EQ(find_program("sh", "shell").back(), 'h');
  EXPECT_EQ(find_program("/bin/sh", "shell"), "/bin/sh");
  try {
    find_program("no-such-builder-xyz", "builder");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("builder 'no-such-builder-xyz' not found in PATH"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(find_program("/nonexistent/apptainer", "builder"), Error);
}

TEST(RunStreamed, LogsEverythingAndReportsStatus) {
  test::TempDir t;
  int log = ::open((t / "log").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(log, 0);
  auto r = run_streamed({"sh", "-c", "echo out; echo err >&2; pwd; exit 3"}, t.path(), log, -1);
  ::close(log);
  EXPECT_EQ(r.status.code, 3);
  EXPECT_FALSE(r.status.ok());
  EXPECT_FALSE(r.interrupted);
  std::string text = test::read_file(t / "log");
  EXPECT_NE(text.find("out\n"), std::string::npos);
  EXPECT_NE(text.find("err\n"), std::string::npos);
  EXPECT_NE(text.find(t.path()), std::string::npos);
}

TEST(RunStreamed, SignalDeathIsReported) {
  auto r = run_streamed({"sh", "-c", "kill -9 $$"}, "", -1, -1);
  EXPECT_TRUE(r.status.signaled);
  EXPECT_EQ(r.status.describe(), "killed by signal 9");
}

TEST(RunCaptured, SeparatesStreams) {
  auto r = run_captured({"sh", "-c", "printf 'a=1\\n'; echo oops >&2"});
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.out, "a=1\n");
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_THROW(run_captured({"sh", "-c", "yes"}, 1 << 16), Error);
}

// A program that outlives its timeout is killed; what it printed is kept.
// Also one that closed its output and goes on running.
TEST(RunCaptured, TimeoutKillsTheProgram) {
  const std::string printing = "echo started; exec sleep 30";
  for (const std::string& script : {printing, std::string("exec >&- 2>&-; exec sleep 30")}) {
    auto start = std::chrono::steady_clock::now();
    auto r = run_captured({"sh", "-c", script}, 1 << 16, 300);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(r.timed_out) << script;
    EXPECT_TRUE(r.status.signaled) << script;
    EXPECT_GE(took, 0.29) << script;
    EXPECT_LT(took, 5.0) << script;
    if (script == printing) {
      EXPECT_EQ(r.out, "started\n");
    }
  }
  auto r = run_captured({"sh", "-c", "echo quick"}, 1 << 16, 5000);
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.status.ok());
  EXPECT_EQ(r.out, "quick\n");
}

}  // namespace
}  // namespace sifstore
