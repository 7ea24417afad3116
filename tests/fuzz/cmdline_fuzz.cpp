// libFuzzer target for the command line: main.cpp's dispatch (global options,
// the command name) and every command's option parsing (parse_options with
// that command's option table), in-process.
//
// The input is the command line, its words separated by NUL bytes. The words
// that main.cpp takes as global options (those starting with '-', and the
// word after --root) are passed as they are; right after the command word
// (after `lock`'s subcommand word) the fuzzer puts --help, so a command line
// that parses only prints help: no command ever runs, nothing on disk is read
// or written. The rest of the input follows as the command's words.
//
// main() (compiled in as sifstore_main) must then return 0 having printed
// something, or 2 with a `sifstore: error:` message or the usage. Anything
// else (exit 1, which would mean a command ran or an unexpected exception,
// a crash, a sanitizer report) is a finding.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tool/command.h"

int sifstore_main(int argc, char** argv);  // tool/main.cpp's main, renamed

namespace {

bool is_command(const std::string& w) {
  for (const auto& c : sifstore::tool::command_table())
    if (c.name == w) return true;
  return false;
}

// Redirects a standard stream into a string for the lifetime of the object.
class Capture {
 public:
  explicit Capture(std::ostream& s) : stream_(s), old_(s.rdbuf(buf_.rdbuf())) {}
  ~Capture() { stream_.rdbuf(old_); }
  std::string text() const { return buf_.str(); }

 private:
  std::ostream& stream_;
  std::ostringstream buf_;
  std::streambuf* old_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> input;
  std::string word;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      input.push_back(word);
      word.clear();
    } else {
      word.push_back(static_cast<char>(data[i]));
    }
  }
  if (size > 0) input.push_back(word);

  std::vector<std::string> words = {"sifstore"};
  size_t i = 0;
  // Global options, as main.cpp reads them.
  for (; i < input.size() && !input[i].empty() && input[i][0] == '-'; ++i) {
    words.push_back(input[i]);
    if (input[i] == "--root" && i + 1 < input.size()) words.push_back(input[++i]);
  }
  if (i < input.size()) {
    std::string cmd = input[i++];
    words.push_back(cmd);
    if (cmd == "lock" && i < input.size()) {
      std::string sub = input[i++];
      words.push_back(sub);
      if (sub == "capture" || sub == "def" || sub == "diff") words.push_back("--help");
    } else if (is_command(cmd) && cmd != "lock") {
      words.push_back("--help");
    }
    for (; i < input.size(); ++i) words.push_back(input[i]);
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  int rc;
  std::string out, err;
  {
    Capture o(std::cout), e(std::cerr);
    rc = sifstore_main(static_cast<int>(words.size()), argv.data());
    out = o.text();
    err = e.text();
  }
  if (rc == 0) {
    if (out.empty()) std::abort();
  } else if (rc == 2) {
    if (err.rfind("sifstore: error: ", 0) != 0 && err.rfind("usage: sifstore", 0) != 0)
      std::abort();
  } else {
    std::cerr << "exit " << rc << ": " << err;
    std::abort();
  }
  return 0;
}
