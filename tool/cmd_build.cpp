// Build-chain commands: build, verify, check, fsck.
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>

#include "core/chain.h"
#include "core/check.h"
#include "core/holds.h"
#include "core/config.h"
#include "core/deffile.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/fsck.h"
#include "core/names.h"
#include "core/user_file.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

std::string default_builder() {
  const char* env = std::getenv("SIFSTORE_BUILDER");
  return env && *env ? env : "apptainer";
}

json diff_json(const LockDiff& d) {
  json changed = json::object();
  for (const auto& [name, ab] : d.changed) changed[name] = {{"a", ab.first}, {"b", ab.second}};
  return {{"identical", d.identical()},
          {"changed", changed},
          {"only_in_a", d.only_in_a},
          {"only_in_b", d.only_in_b},
          {"summary", d.summary()}};
}

// The name of the newest build log of the layer ("" when none).
std::string newest_log(const Store& store, const std::string& layer) {
  std::string newest;
  try {
    auto dir = store.layer_dir(layer);
    if (!dir) return newest;
    for (const auto& e : dir->scan()) {
      auto p = parse_artifact_name(layer, e.name);
      if (p && p->artifact == Artifact::kBuildLog && e.name > newest) newest = e.name;
    }
  } catch (const Error&) {
  }
  return newest;
}

// The last lines of the newest build log of the layer, on stderr, when it is
// newer than `before` (a build refused before it ran has no log of its own).
void print_log_tail(Context& ctx, const Store& store, const std::string& layer,
                    const std::string& before) {
  try {
    auto dir = store.layer_dir(layer);
    if (!dir) return;
    std::string newest = newest_log(store, layer);
    if (newest.empty() || newest <= before) return;
    auto text = dir->read_file(newest, 256u << 20);
    if (!text) return;
    constexpr size_t kLines = 20;
    size_t pos = text->size();
    if (pos > 0 && (*text)[pos - 1] == '\n') --pos;  // the final newline ends the last line
    for (size_t n = 0; n < kLines && pos > 0; ++n) {
      size_t nl = text->rfind('\n', pos - 1);
      pos = nl == std::string::npos ? 0 : nl;
    }
    std::string tail = text->substr(pos == 0 ? 0 : pos + 1);
    if (!tail.empty() && tail.back() != '\n') tail += '\n';
    ctx.err << "sifstore: the end of " << dir->path_of(newest) << ":\n" << tail;
  } catch (const Error&) {
    // No log to show: the error message says enough.
  }
}

// --build-arg / --secret-build-arg values: KEY=VALUE, KEY a template name
// ({{ KEY }}); the last value of a key wins, as in Apptainer.
std::map<std::string, std::string> key_values(const po::variables_map& vm, const char* option,
                                              const char* command) {
  std::map<std::string, std::string> out;
  if (!vm.count(option)) return out;
  for (const auto& kv : vm[option].as<std::vector<std::string>>()) {
    size_t eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    if (eq == std::string::npos || !valid_build_arg_name(key))
      throw UsageError(std::string(command) + ": --" + option + " takes KEY=VALUE (KEY: letters, " +
                       "digits, _ as in {{ KEY }}), not '" + kv +
                       "'; extra words for the builder go in --builder-arg");
    out[key] = kv.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> words(const po::variables_map& vm, const char* option) {
  return vm.count(option) ? vm[option].as<std::vector<std::string>>() : std::vector<std::string>{};
}

int cmd_build(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("def", po::value<std::string>(), "the rough definition file (required)")(
      "builder", po::value<std::string>(),
      "builder command line (default: $SIFSTORE_BUILDER, else apptainer)")(
      "builder-arg", po::value<std::vector<std::string>>()->composing(),
      "an extra word for `<builder> build` (repeatable), e.g. --builder-arg=--fakeroot")(
      "build-arg", po::value<std::vector<std::string>>()->composing(),
      "KEY=VALUE: the value of {{ KEY }} in the def (repeatable); rendered by sifstore and "
      "recorded in the lock")(
      "secret-build-arg", po::value<std::vector<std::string>>()->composing(),
      "KEY=VALUE: as --build-arg, but never written by sifstore: passed to the builder as "
      "its --build-arg (verify needs it again)")(
      "rebuild", po::bool_switch(),
      "build anew even when a published build of the layer has the same inputs (input key)")(
      "take-over", po::bool_switch(),
      "build the layer although it is built from another definition (a moved project)")(
      "from", po::value<std::string>(), "base layer: build on its active image and pin it")(
      "retain", po::value<int>(), "builds kept by the prune step (default: config.yaml, else 10)")(
      "verify", po::bool_switch(), "rebuild from the locked def and mark the build")(
      "pin-apt", po::bool_switch(),
      "pin every dpkg version of the lock in the locked def (apt preferences)")(
      "offline", po::bool_switch(),
      "do not resolve registry bases to digests (also: SIFSTORE_OFFLINE=1); the lock says "
      "they are unpinned")(
      "sign", po::bool_switch(), "sign the image with `<builder> sign` before it is published")(
      "keyidx", po::value<int>(), "with --sign: the signing key's index (`sign --keyidx N`)")(
      "capture", po::value<std::string>()->default_value("static"), "lock capture: static or exec")(
      "depfile", po::value<std::string>(), "write a Ninja depfile of the build's inputs here")(
      "depfile-target", po::value<std::string>(),
      "the target named in the depfile"
      " (default: the latest pointer)")(
      "stamp", po::value<std::string>(),
      "after the build is published (and verified, with --verify), write this file last: "
      "Ninja's output for add_sif_layer()")(
      "quiet,q", po::bool_switch(), "do not stream the builder's output (it is still logged)")(
      "json", po::bool_switch(), "print the result as JSON");
  auto vm = parse_options(ctx, find_command("build"), d, {"LAYER"}, args);
  if (!vm) return 0;
  if (!vm->count("def")) throw UsageError("build: --def FILE is required");
  BuildOptions o;
  o.layer = (*vm)["LAYER"].as<std::string>();
  check_layer_name(o.layer);
  o.def_path = (*vm)["def"].as<std::string>();
  o.builder = vm->count("builder") ? (*vm)["builder"].as<std::string>() : default_builder();
  o.builder_args = words(*vm, "builder-arg");
  o.build_args = key_values(*vm, "build-arg", "build");
  o.secret_build_args = key_values(*vm, "secret-build-arg", "build");
  o.take_over = (*vm)["take-over"].as<bool>();
  o.rebuild = (*vm)["rebuild"].as<bool>();
  if (vm->count("from")) {
    o.from_layer = (*vm)["from"].as<std::string>();
    try {
      check_layer_name(*o.from_layer);
    } catch (const Error& e) {
      throw UsageError(std::string("build: --from: ") + e.what());
    }
  }
  if (vm->count("retain")) {
    o.retain = (*vm)["retain"].as<int>();
    if (*o.retain < 0) throw UsageError("build: --retain must be 0 or more");
  }
  o.verify = (*vm)["verify"].as<bool>();
  o.pin_apt = (*vm)["pin-apt"].as<bool>();
  const char* offline = std::getenv("SIFSTORE_OFFLINE");
  o.offline = (*vm)["offline"].as<bool>() || (offline && *offline && std::string(offline) != "0");
  o.sign = (*vm)["sign"].as<bool>();
  if (vm->count("keyidx")) {
    if (!o.sign) throw UsageError("build: --keyidx goes with --sign");
    if ((*vm)["keyidx"].as<int>() < 0) throw UsageError("build: --keyidx must be 0 or more");
    o.sign_keyidx = (*vm)["keyidx"].as<int>();
  }
  try {
    o.capture = parse_capture_method((*vm)["capture"].as<std::string>());
  } catch (const Error& e) {
    throw UsageError(std::string("build: ") + e.what());
  }
  if (vm->count("depfile")) o.depfile = (*vm)["depfile"].as<std::string>();
  if (vm->count("depfile-target")) o.depfile_target = (*vm)["depfile-target"].as<std::string>();
  std::optional<std::string> stamp;
  if (vm->count("stamp")) stamp = (*vm)["stamp"].as<std::string>();
  o.echo_fd = (*vm)["quiet"].as<bool>() ? -1 : STDERR_FILENO;
  o.warn = [&](const std::string& w) { ctx.err << "sifstore: warning: " << w << "\n"; };

  // A refused build on a root that did not exist leaves no empty root behind.
  std::vector<std::string> created = Dir::missing(ctx.root);
  Store store = Store::open_or_create(ctx.root);
  // The prune step takes retain from config.yaml: say what is wrong with it
  // before the build starts, as `prune` does.
  if (!o.retain)
    for (const auto& w : load_config(store.root_dir()).warnings)
      ctx.err << "sifstore: warning: " << w << "\n";
  std::string log_before = o.echo_fd < 0 ? newest_log(store, o.layer) : "";
  BuildResult r;
  try {
    r = build_layer(store, o);
  } catch (const Error&) {
    // Quiet builds show nothing of the builder while it runs: show how its
    // log ends before the error, so a failure in a CI log is readable.
    if (o.echo_fd < 0) print_log_tail(ctx, store, o.layer, log_before);
    Dir::remove_empty(created);
    throw;
  }
  for (const auto& w : r.warnings) ctx.err << "sifstore: warning: " << w << "\n";
  std::string summary = std::string(r.reused ? "sifstore: reused " : "sifstore: built ") + o.layer +
                        "-" + r.ts + (r.reused ? " (same input key)" : "") + ": " +
                        std::to_string(r.lock.dpkg.size()) + " dpkg, " +
                        std::to_string(r.lock.pip.size()) + " pip, " +
                        std::to_string(node_versions(r.lock.node).size()) + " node packages; " +
                        (r.pointed ? "latest -> " + pointer_target(o.layer, r.ts)
                                   : std::string("latest left on a newer build"));
  if (!r.pruned.empty()) summary += "; pruned " + std::to_string(r.pruned.size());
  if (r.verify) summary += "; round trip: " + r.verify->diff.summary();
  summary += "\n";
  // The stamp says "this build is published": written last, so that a build
  // interrupted or failed at any step leaves none and Ninja runs it again.
  // Also when latest was left on a newer build: this build's inputs are
  // built and published, and the pointer names a newer build of the layer
  // (Ninja need not build it again).
  if (stamp) {
    write_user_file(*stamp, summary, "--stamp");
  }
  if ((*vm)["json"].as<bool>()) {
    json j = {{"layer", o.layer},
              {"ts", r.ts},
              {"sif", r.paths.sif},
              {"lock", r.paths.lock},
              {"def", r.paths.def},
              {"build_log", r.paths.build_log},
              {"pointed", r.pointed},
              {"reused", r.reused},
              {"input_key", r.input_key},
              {"pruned", r.pruned},
              {"base", r.base ? json(*r.base) : json(nullptr)},
              {"warnings", r.warnings},
              {"packages",
               {{"dpkg", r.lock.dpkg.size()},
                {"pip", r.lock.pip.size()},
                {"node", node_versions(r.lock.node).size()}}},
              {"verify", r.verify ? diff_json(r.verify->diff) : json(nullptr)}};
    print_json(ctx.out, j);
    return 0;
  }
  ctx.out << summary;
  return 0;
}

int cmd_verify(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("builder", po::value<std::string>(),
                  "builder command line (default: $SIFSTORE_BUILDER, else apptainer)")(
      "builder-arg", po::value<std::vector<std::string>>()->composing(),
      "an extra word for `<builder> build` (repeatable)")(
      "secret-build-arg", po::value<std::vector<std::string>>()->composing(),
      "KEY=VALUE: a secret build argument the build was made with (never written)")(
      "build-arg", po::value<std::vector<std::string>>()->composing(),
      "not needed: the locked def has the build's arguments rendered")(
      "capture", po::value<std::string>()->default_value("static"), "lock capture: static or exec")(
      "quiet,q", po::bool_switch(), "do not stream the builder's output")(
      "json", po::bool_switch(), "print the comparison as JSON");
  auto vm = parse_options(ctx, find_command("verify"), d, {"LAYER", "TS?"}, args);
  if (!vm) return 0;
  VerifyOptions o;
  o.layer = (*vm)["LAYER"].as<std::string>();
  check_layer_name(o.layer);
  if (vm->count("TS")) {
    o.ts = (*vm)["TS"].as<std::string>();
    check_ts(*o.ts);
  }
  o.builder = vm->count("builder") ? (*vm)["builder"].as<std::string>() : default_builder();
  if (vm->count("build-arg"))
    throw UsageError(
        "verify: --build-arg is not needed: the locked def has the build's arguments rendered "
        "(a secret one: --secret-build-arg KEY=VALUE; extra words for the builder: --builder-arg)");
  o.builder_args = words(*vm, "builder-arg");
  o.secret_build_args = key_values(*vm, "secret-build-arg", "verify");
  try {
    o.capture = parse_capture_method((*vm)["capture"].as<std::string>());
  } catch (const Error& e) {
    throw UsageError(std::string("verify: ") + e.what());
  }
  o.echo_fd = (*vm)["quiet"].as<bool>() ? -1 : STDERR_FILENO;
  VerifyResult r = verify_build(Store::open(ctx.root), o);
  if ((*vm)["json"].as<bool>()) {
    json j = diff_json(r.diff);
    j["marker"] = r.marker;
    print_json(ctx.out, j);
  } else {
    ctx.out << (r.diff.identical() ? "verified: " : "UNVERIFIED: ") << r.diff.summary() << "\n"
            << r.marker << "\n";
  }
  return 0;
}

int cmd_check(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("require-verified", po::bool_switch(),
                  "fail unless the build is round-trip verified (also: images.require_verified)")(
      "json", po::bool_switch(), "print the result as JSON")(
      "hold", po::bool_switch(), "hold the build for a job: prune keeps it while the hold is live")(
      "job", po::value<std::string>(), "the job the hold is for (default: $SLURM_JOB_ID)")(
      "until", po::value<std::string>(),
      "without Slurm, hold until TIME (12h, 2d, @<unix s>, YYYY-MM-DD[THH:MM]; default a day)");
  auto vm = parse_options(ctx, find_command("check"), d, {"LAYER"}, args);
  if (!vm) return 0;
  std::string layer = (*vm)["LAYER"].as<std::string>();
  check_layer_name(layer);
  std::optional<bool> require;
  if ((*vm)["require-verified"].as<bool>()) require = true;
  const bool hold = (*vm)["hold"].as<bool>();
  if (!hold && (vm->count("job") || vm->count("until")))
    throw UsageError("check: --job and --until go with --hold");
  std::string job;
  std::optional<int64_t> until;
  if (hold) {
    if (vm->count("job")) {
      job = (*vm)["job"].as<std::string>();
    } else if (const char* env = std::getenv("SLURM_JOB_ID"); env && *env) {
      job = env;
    }
    if (vm->count("until"))
      until = parse_hold_until((*vm)["until"].as<std::string>(), std::time(nullptr));
  }
  Store store = Store::open(ctx.root);
  CheckResult r = check_layer(store, layer, require);
  std::optional<Hold> held;
  if (hold) held = place_hold(store, layer, r.ts, job, until);
  for (const auto& w : r.warnings) ctx.err << "sifstore: warning: " << w << "\n";
  if ((*vm)["json"].as<bool>()) {
    json j = {{"layer", layer}, {"ts", r.ts}, {"sif", r.sif}, {"state", r.state}, {"detail", r.detail}};
    if (held) j["hold"] = {{"id", held->id}, {"job", held->job}, {"until", held->until}};
    print_json(ctx.out, j);
  } else {
    ctx.out << r.sif << "\n";
  }
  return 0;
}

int cmd_fsck(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("repair", po::bool_switch(), "remove debris and orphans, fix pointers")(
      "hash-images", po::bool_switch(), "also check every image's sha256 against its lock")(
      "json", po::bool_switch(), "print the findings as JSON");
  auto vm = parse_options(ctx, find_command("fsck"), d, {}, args);
  if (!vm) return 0;
  FsckOptions fo;
  fo.repair = (*vm)["repair"].as<bool>();
  fo.hash_images = (*vm)["hash-images"].as<bool>();
  FsckReport r = fsck(Store::open(ctx.root), fo);
  if ((*vm)["json"].as<bool>()) {
    json findings = json::array();
    for (const auto& f : r.findings)
      findings.push_back({{"path", f.path},
                          {"problem", f.problem},
                          {"action", f.action.empty() ? json(nullptr) : json(f.action)},
                          {"note", f.note}});
    print_json(ctx.out, {{"layers", r.layers}, {"builds", r.builds}, {"findings", findings}});
  } else {
    for (const auto& f : r.findings)
      ctx.out << f.path << ": " << (f.note ? "note: " : "") << f.problem
              << (f.action.empty() ? "" : " [" + f.action + "]") << "\n";
    ctx.out << "sifstore: fsck: " << r.layers << " layers, " << r.builds << " builds, "
            << r.findings.size() << " findings, " << r.unrepaired() << " unrepaired\n";
  }
  return r.unrepaired() == 0 ? 0 : 1;
}

const CommandRegistration kRegistrations[] = {
    CommandRegistration({"build", "build LAYER --def FILE [--from LAYER] [--verify] [...]",
                         "build, capture, lock, publish, point latest, prune (and verify)",
                         cmd_build}),
    CommandRegistration({"verify", "verify LAYER [TS]",
                         "rebuild from the locked def and mark the build (verified/unverified)",
                         cmd_verify}),
    CommandRegistration({"check", "check LAYER [--require-verified] [--hold [--job ID] [--until TIME]]",
                         "use-time gate: print the image to use, fail if it is unfit", cmd_check}),
    CommandRegistration({"fsck", "fsck [--repair] [--hash-images]",
                         "report (and repair) debris, orphans and bad pointers", cmd_fsck}),
};

}  // namespace
}  // namespace sifstore::tool
