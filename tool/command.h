// The `sifstore` command table.
//
// Each tool/cmd_*.cpp file defines the handlers of one command group and
// registers them with a static CommandRegistration; main.cpp only parses the
// common options and dispatches by name. Handlers parse their own options
// with Boost.Program_options (see parse_options), call core/, and print
// through output.h. They return the exit status: 0 success, 1 the operation
// failed. A sifstore::Error escaping a handler is exit 1, a UsageError or a
// Boost.Program_options error is exit 2.
#pragma once

#include <boost/program_options.hpp>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sifstore::tool {

struct Context {
  std::string root;  // --root, else $SIFSTORE_ROOT, else ./containers
  std::ostream& out;
  std::ostream& err;
};

using Handler = int (*)(Context& ctx, const std::vector<std::string>& args);

struct Command {
  std::string name;
  std::string synopsis;  // e.g. "list LAYER [--json]"
  std::string summary;   // one line for `sifstore --help`
  Handler run;
};

// Wrong words on the command line: exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::vector<Command>& command_table();

struct CommandRegistration {
  explicit CommandRegistration(Command c);
};

// Parses args against desc with the given positional names, in order: "TS"
// is required, "TS?" optional, "ARGS..." takes the rest (values are stored
// under the name without its mark). Prints the command's help and
// returns nullopt when --help was given. Throws UsageError on bad words,
// among them a LAYER that is not a valid layer name and a TS that is not a
// valid <ts> (core/names.h).
namespace po = boost::program_options;
std::optional<po::variables_map> parse_options(Context& ctx, const Command& cmd,
                                               po::options_description desc,
                                               const std::vector<std::string>& positional,
                                               const std::vector<std::string>& args);

// The registered command with this name (for help texts).
const Command& find_command(const std::string& name);

}  // namespace sifstore::tool
