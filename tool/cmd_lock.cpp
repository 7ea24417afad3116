// Lock commands: `sifstore lock capture|def|diff`.
//
//   lock capture SIF [-o FILE] [--method static|exec]   (tool/cmd_lock_capture.cpp)
//   lock def ROUGH.def LOCK [-o FILE] [--base SIF] [--pin-apt]
//   lock diff A.lock B.lock [--json]                    exit 1 when the sets differ
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "core/deffile.h"
#include "core/error.h"
#include "core/locked_def.h"
#include "core/lockfile.h"
#include "core/registry/pin.h"
#include "core/text.h"
#include "core/user_file.h"
#include "tool/cmd_lock_capture.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

const Command kLockDef{
    "lock def", "lock def ROUGH.def LOCK [-o FILE] [--base SIF] [--pin-apt]",
    "write the locked definition: ROUGH.def with the versions of LOCK pinned\n"
    "(a %post before its own: every pip package as a constraint; with --pin-apt\n"
    "every dpkg package as an apt preference;\n"
    "with --base, the From: of its 'Bootstrap: localimage' stage set to SIF)",
    nullptr};
const Command kLockDiff{"lock diff", "lock diff A.lock B.lock [--json]",
                        "compare the version sets of two locks; exit 1 when they differ", nullptr};

int lock_def(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("output,o", po::value<std::string>(),
                  "write to FILE (default, or -: stdout), then print its name")(
      "base", po::value<std::string>(),
      "the exact base SIF the 'Bootstrap: localimage' stage builds from")(
      "pin-apt", po::bool_switch(),
      "also pin the packages the def's %post installs with apt-get/apt install");
  auto vm = parse_options(ctx, kLockDef, d, {"ROUGH", "LOCK"}, args);
  if (!vm) return 0;
  DefFile rough = read_def_file((*vm)["ROUGH"].as<std::string>());
  PackageLock lock = read_lock_file((*vm)["LOCK"].as<std::string>());
  LockedDefOptions opts;
  opts.pin_apt = (*vm)["pin-apt"].as<bool>();
  if (vm->count("base")) {
    std::string base = (*vm)["base"].as<std::string>();
    struct stat st;
    if (::stat(base.c_str(), &st) != 0) throw system_error("--base " + base);
    if (!S_ISREG(st.st_mode)) throw Error("--base " + base + " is not a regular file");
    opts.base = std::filesystem::absolute(base).lexically_normal().string();
  }
  // A lock that records build arguments: the def is rendered with them, as
  // the build rendered it (secrets stay templates), so the locked def is the
  // build's.
  auto args_fact = lock.facts.find("build-args");
  auto secrets_fact = lock.facts.find("secret-build-args");
  if (args_fact != lock.facts.end() || secrets_fact != lock.facts.end()) {
    std::map<std::string, std::string> values;
    std::set<std::string> secrets;
    try {
      if (args_fact != lock.facts.end())
        values = nlohmann::json::parse(args_fact->second).get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception&) {
      throw Error((*vm)["LOCK"].as<std::string>() +
                  ": its build-args fact is not a JSON object of strings");
    }
    if (secrets_fact != lock.facts.end())
      for (auto& n : split(secrets_fact->second, ' '))
        if (!n.empty()) secrets.insert(std::move(n));
    RenderedDef rendered = render_build_args(rough, values, secrets);
    if (rendered.text != rough.text) rough = parse_def(rendered.text, rough.path);
  }
  // Registry bases the lock records pinned (base-image: docker://...@sha256:...)
  // are pinned in the locked def as the build pinned them.
  registry::DefPins pins = registry::pins_from_facts(rough, lock.facts);
  if (!pins.empty()) rough = parse_def(registry::pinned_def_text(rough, pins), rough.path);
  std::string text = locked_def_text(rough, lock, opts);
  if (vm->count("output")) {
    std::string out = (*vm)["output"].as<std::string>();
    if (write_user_file(out, text, "-o") != UserFileWritten::kStandardOutput)
      ctx.out << out << "\n";
  } else {
    ctx.out << text;
  }
  return 0;
}

int lock_diff(Context& ctx, const std::vector<std::string>& args) {
  auto vm = parse_options(
      ctx, kLockDiff,
      [] {
        po::options_description d("options");
        d.add_options()("json", po::bool_switch(), "print JSON");
        return d;
      }(),
      {"A", "B"}, args);
  if (!vm) return 0;
  std::string a_path = (*vm)["A"].as<std::string>(), b_path = (*vm)["B"].as<std::string>();
  PackageLock a = read_lock_file(a_path), b = read_lock_file(b_path);
  LockDiff diff = compare_locks(a, b);
  auto bases = registry::base_changes(a.facts, b.facts);  // a different base image is a change
  if ((*vm)["json"].as<bool>()) {
    json changed = json::object();
    for (const auto& [name, ab] : diff.changed) changed[name] = {ab.first, ab.second};
    json base = json::object();
    for (const auto& [fact, ab] : bases) base[fact] = {ab.first, ab.second};
    print_json(ctx.out, {{"a", a_path},
                         {"b", b_path},
                         {"identical", diff.identical() && bases.empty()},
                         {"bases_changed", base},
                         {"b", b_path},
                         {"identical", diff.identical()},
                         {"changed", changed},
                         {"only_in_a", diff.only_in_a},
                         {"only_in_b", diff.only_in_b},
                         {"summary", diff.summary()}});
  } else {
    if (!bases.empty()) {
      ctx.out << "base changed:\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& [fact, ab] : bases)
        rows.push_back({"  " + fact, ab.first.empty() ? "(none)" : ab.first, "->",
                        ab.second.empty() ? "(none)" : ab.second});
      print_table(ctx.out, rows);
    }
    if (!diff.changed.empty()) {
      ctx.out << "changed:\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& [name, ab] : diff.changed)
        rows.push_back({"  " + name, ab.first, "->", ab.second});
      print_table(ctx.out, rows);
    }
    auto only = [&](const std::string& path, const std::map<std::string, std::string>& m) {
      if (m.empty()) return;
      ctx.out << "only in " << path << ":\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& [name, v] : m) rows.push_back({"  " + name, v});
      print_table(ctx.out, rows);
    };
    only(a_path, diff.only_in_a);
    only(b_path, diff.only_in_b);
    ctx.out << diff.summary() << "\n";
  }
  return diff.identical() && bases.empty() ? 0 : 1;
}

int cmd_lock(Context& ctx, const std::vector<std::string>& args) {
  const Command& cmd = find_command("lock");
  if (args.empty())
    throw UsageError("lock: missing subcommand: capture, def or diff (usage: sifstore " +
                     cmd.synopsis + ")");
  const std::string& sub = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (sub == "--help" || sub == "-h") {
    ctx.out << "usage: sifstore [--root DIR] " << cmd.synopsis << "\n\n"
            << cmd.summary << "\n\n"
            << "subcommands:\n"
            << "  lock capture SIF [-o FILE] [--method static|exec] [--builder CMD]\n"
            << "      write the lock of an image (pip, dpkg, node versions)\n"
            << "  " << kLockDef.synopsis << "\n"
            << "      write the locked definition that rebuilds the image\n"
            << "  " << kLockDiff.synopsis << "\n"
            << "      " << kLockDiff.summary << "\n\n"
            << "`sifstore lock <subcommand> --help` for its options.\n";
    return 0;
  }
  if (sub == "capture") return lock_capture(ctx, rest);
  if (sub == "def") return lock_def(ctx, rest);
  if (sub == "diff") return lock_diff(ctx, rest);
  throw UsageError("lock: unknown subcommand '" + sub +
                   "': capture, def or diff (usage: sifstore " + cmd.synopsis + ")");
}

const CommandRegistration kRegistration({"lock", "lock capture|def|diff ...",
                                         "lock files: capture, locked def, compare", cmd_lock});

}  // namespace
}  // namespace sifstore::tool
