// sifstore: the command-line face of libsifstore.
//
//   sifstore [--root DIR] <command> [args]
//
// The store root is --root, else $SIFSTORE_ROOT, else ./containers. Exit
// status: 0 success, 1 the operation failed, 2 usage error.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/text.h"
#include "tool/command.h"

namespace {

using sifstore::starts_with;
using sifstore::tool::command_table;
using sifstore::tool::Context;
using sifstore::tool::UsageError;

void print_usage(std::ostream& out) {
  out << "usage: sifstore [--root DIR] <command> [args]\n\n"
         "Apptainer images as build products: a store of timestamped builds with\n"
         "their lock files, locked definitions and latest pointers.\n\n"
         "options:\n"
         "  --root DIR   the store (default: $SIFSTORE_ROOT, else ./containers)\n"
         "  --version    print the version\n"
         "  --help       this help; `sifstore <command> --help` for one command\n\n"
         "commands:\n";
  // Store commands first, then the build chain, then images and locks.
  static const std::vector<std::string> kOrder = {
      "stamp", "paths", "layers", "list",  "point-latest", "rollback", "prune", "protect",
      "unprotect", "mark-verified", "mark-unverified", "build", "verify", "check", "fsck",
      "inspect", "lock"};
  std::vector<const sifstore::tool::Command*> commands;
  for (const auto& name : kOrder)
    for (const auto& c : command_table())
      if (c.name == name) commands.push_back(&c);
  for (const auto& c : command_table())
    if (std::find(kOrder.begin(), kOrder.end(), c.name) == kOrder.end()) commands.push_back(&c);
  constexpr size_t kWidth = 44;
  for (const auto* c : commands) {
    if (c->synopsis.size() + 2 > kWidth) {
      out << "  " << c->synopsis << "\n" << std::string(kWidth + 2, ' ') << c->summary << "\n";
    } else {
      out << "  " << c->synopsis << std::string(kWidth - c->synopsis.size(), ' ') << c->summary
          << "\n";
    }
  }
}

int run(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  std::string root;
  bool root_given = false;
  size_t i = 0;
  for (; i < words.size() && !words[i].empty() && words[i][0] == '-'; ++i) {
    const std::string& w = words[i];
    if (w == "--version") {
      std::cout << "sifstore " << SIFSTORE_VERSION << "\n";
      return 0;
    } else if (w == "--help" || w == "-h") {
      print_usage(std::cout);
      return 0;
    } else if (w == "--root") {
      if (i + 1 >= words.size()) throw UsageError("--root needs a directory");
      root = words[++i];
      root_given = true;
    } else if (starts_with(w, "--root=")) {
      root = w.substr(7);
      root_given = true;
    } else {
      throw UsageError("unknown option '" + w + "' (see sifstore --help)");
    }
  }
  if (i >= words.size()) {
    print_usage(std::cerr);
    return 2;
  }
  if (!root_given) {
    const char* env = std::getenv("SIFSTORE_ROOT");
    root = env && *env ? env : "containers";
  }
  if (root.empty()) throw UsageError("--root must not be empty");
  const auto& cmd = sifstore::tool::find_command(words[i]);
  Context ctx{root, std::cout, std::cerr};
  std::vector<std::string> args(words.begin() + static_cast<long>(i) + 1, words.end());
  return cmd.run(ctx, args);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "sifstore: error: " << e.what() << "\n";
    return 2;
  } catch (const sifstore::Error& e) {
    std::cerr << "sifstore: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sifstore: error: " << e.what() << "\n";
    return 1;
  }
}
