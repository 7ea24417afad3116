#include "tool/command.h"

#include <algorithm>
#include <ostream>

#include "core/error.h"
#include "core/names.h"
#include "core/text.h"

namespace sifstore::tool {
namespace {

// Boost.Program_options' what() fills its message template by replacing
// %value%, %canonical_option%, ... until none is left, so a word of the
// user's that holds one never ends (Boost 1.74; found by cmdline_fuzz). With
// a '%' in any word the message is composed here from the option's name,
// which Boost gives without substitution.
std::string describe(const po::error& e, const std::vector<std::string>& args) {
  bool percent = std::any_of(args.begin(), args.end(),
                             [](const std::string& a) { return a.find('%') != std::string::npos; });
  if (!percent) return e.what();
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr || named->get_option_name().empty()) return "invalid arguments";
  if (dynamic_cast<const po::unknown_option*>(&e))
    return "unrecognised option '" + named->get_option_name() + "'";
  return "invalid option or value: '" + named->get_option_name() + "'";
}

// "TS?" -> "TS", "ARGS..." -> "ARGS".
std::string positional_key(const std::string& name) {
  if (ends_with(name, "...")) return name.substr(0, name.size() - 3);
  if (ends_with(name, "?")) return name.substr(0, name.size() - 1);
  return name;
}

// "--name=" for an option that takes a value is "--name" with an empty value
// ("--reason=" is no reason), as "--name ''" is; Boost.Program_options
// rejects an empty value after '='. Words after "--" are left alone.
std::vector<std::string> split_empty_values(const po::options_description& desc,
                                            const std::vector<std::string>& args) {
  std::vector<std::string> words;
  words.reserve(args.size() + 1);
  bool options_end = false;
  for (const auto& a : args) {
    if (a == "--") options_end = true;
    if (!options_end && a.size() > 3 && a.compare(0, 2, "--") == 0 && a.find('=') == a.size() - 1) {
      const po::option_description* option = desc.find_nothrow(a.substr(2, a.size() - 3), true);
      if (option && option->semantic()->max_tokens() > 0) {
        words.push_back(a.substr(0, a.size() - 1));
        words.emplace_back();
        continue;
      }
    }
    words.push_back(a);
  }
  return words;
}

}  // namespace

std::vector<Command>& command_table() {
  static std::vector<Command> table;
  return table;
}

CommandRegistration::CommandRegistration(Command c) { command_table().push_back(std::move(c)); }

const Command& find_command(const std::string& name) {
  for (const auto& c : command_table())
    if (c.name == name) return c;
  throw UsageError("unknown command '" + name + "' (see sifstore --help)");
}

std::optional<po::variables_map> parse_options(Context& ctx, const Command& cmd,
                                               po::options_description desc,
                                               const std::vector<std::string>& positional,
                                               const std::vector<std::string>& args) {
  desc.add_options()("help,h", "show this help");
  po::options_description hidden;
  po::positional_options_description pos;
  for (const auto& name : positional) {
    bool rest = ends_with(name, "...");
    std::string key = positional_key(name);
    if (rest) {
      hidden.add_options()(key.c_str(), po::value<std::vector<std::string>>());
      pos.add(key.c_str(), -1);
    } else {
      hidden.add_options()(key.c_str(), po::value<std::string>());
      pos.add(key.c_str(), 1);
    }
  }
  po::options_description all;
  all.add(desc).add(hidden);
  po::variables_map vm;
  try {
    po::store(
        po::command_line_parser(split_empty_values(all, args)).options(all).positional(pos).run(),
        vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::string hint;
    const auto* unknown = dynamic_cast<const po::unknown_option*>(&e);
    if (unknown && (unknown->get_option_name() == "--root" ||
                    starts_with(unknown->get_option_name(), "--root=")))
      hint = "; --root is a global option: it goes before the command (sifstore --root DIR " +
             cmd.name + " ...)";
    throw UsageError(cmd.name + ": " + describe(e, args) + " (usage: sifstore " + cmd.synopsis +
                     ")" + hint);
  }
  if (vm.count("help")) {
    ctx.out << "usage: sifstore [--root DIR] " << cmd.synopsis << "\n\n"
            << cmd.summary << "\n\n"
            << desc;
    return std::nullopt;
  }
  for (const auto& name : positional) {
    if (ends_with(name, "?") || ends_with(name, "...")) continue;
    if (!vm.count(name))
      throw UsageError(cmd.name + ": missing " + name + " (usage: sifstore " + cmd.synopsis + ")");
  }
  // A LAYER or TS word that no layer or build can have is a bad word on the
  // command line like any other: a usage error (exit 2), whatever command.
  try {
    if (vm.count("LAYER")) check_layer_name(vm["LAYER"].as<std::string>());
    if (vm.count("TS")) check_ts(vm["TS"].as<std::string>());
  } catch (const Error& e) {
    throw UsageError(cmd.name + ": " + e.what());
  }
  return vm;
}

}  // namespace sifstore::tool
