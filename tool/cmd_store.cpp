// Store commands: stamp, paths, layers, list, point-latest, rollback, prune,
// protect, unprotect, mark-verified, mark-unverified.
#include <optional>
#include <ostream>

#include "core/config.h"
#include "core/error.h"
#include "core/names.h"
#include "core/stamp.h"
#include "core/store.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

po::options_description json_option() {
  po::options_description d("options");
  d.add_options()("json", po::bool_switch(), "print JSON");
  return d;
}

po::options_description no_options() { return po::options_description("options"); }

std::string arg(const po::variables_map& vm, const char* key) { return vm[key].as<std::string>(); }

// Checks LAYER (and TS) words before anything touches the store.
std::string layer_arg(const po::variables_map& vm) {
  std::string layer = arg(vm, "LAYER");
  check_layer_name(layer);
  return layer;
}
std::string ts_arg(const po::variables_map& vm, const char* key = "TS") {
  std::string ts = arg(vm, key);
  check_ts(ts);
  return ts;
}

void print_warnings(Context& ctx, const Config& cfg) {
  for (const auto& w : cfg.warnings) ctx.err << "sifstore: warning: " << w << "\n";
}

int cmd_stamp(Context& ctx, const std::vector<std::string>& args) {
  const auto& cmd = find_command("stamp");
  auto vm = parse_options(ctx, cmd, no_options(), {"LAYER?"}, args);
  if (!vm) return 0;
  if (!vm->count("LAYER")) {
    auto root = Dir::open_if_exists(ctx.root);
    TimeBase base = root ? store_time_base(*root) : TimeBase::kUtc;
    ctx.out << format_ts(system_clock()(), base) << "\n";
    return 0;
  }
  std::string layer = layer_arg(*vm);
  // The caller uses the <ts> after this process exits: held for a day.
  ctx.out << Store::open_or_create(ctx.root).reserve(layer, system_clock(),
                                                     ReservationHolder::kCaller)
          << "\n";
  return 0;
}

int cmd_paths(Context& ctx, const std::vector<std::string>& args) {
  auto vm = parse_options(ctx, find_command("paths"), json_option(), {"LAYER", "TS"}, args);
  if (!vm) return 0;
  std::string layer = layer_arg(*vm), ts = ts_arg(*vm);
  auto store = Store::open(ctx.root);
  ArtifactPaths p = store.paths(layer, ts);
  std::vector<std::pair<std::string, std::string>> rows = {
      {"layer_dir", p.layer_dir}, {"sif", p.sif},
      {"lock", p.lock},           {"def", p.def},
      {"verified", p.verified},   {"unverified", p.unverified},
      {"keep", p.keep},           {"build_log", p.build_log},
      {"latest", p.pointer}};
  if ((*vm)["json"].as<bool>()) {
    json j = json::object();
    for (auto& [k, v] : rows) j[k] = v;
    print_json(ctx.out, j);
  } else {
    std::vector<std::vector<std::string>> table;
    for (auto& [k, v] : rows) table.push_back({k, v});
    print_table(ctx.out, table);
  }
  return 0;
}

int cmd_layers(Context& ctx, const std::vector<std::string>& args) {
  auto vm = parse_options(ctx, find_command("layers"), json_option(), {}, args);
  if (!vm) return 0;
  auto layers = Store::open(ctx.root).layers();
  if ((*vm)["json"].as<bool>()) {
    json j = json::array();
    for (const auto& l : layers) {
      j.push_back({{"layer", l.name},
                   {"builds", l.builds},
                   {"active", l.active_ts ? json(*l.active_ts) : json(nullptr)}});
    }
    print_json(ctx.out, j);
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"LAYER", "BUILDS", "ACTIVE"}};
  for (const auto& l : layers)
    rows.push_back({l.name, std::to_string(l.builds), l.active_ts.value_or("-")});
  print_table(ctx.out, rows);
  return 0;
}

std::string verified_word(const std::optional<bool>& v) {
  if (!v) return "-";
  return *v ? "verified" : "UNVERIFIED";
}

int cmd_list(Context& ctx, const std::vector<std::string>& args) {
  auto vm = parse_options(ctx, find_command("list"), json_option(), {"LAYER"}, args);
  if (!vm) return 0;
  std::string layer = layer_arg(*vm);
  BuildListing listing = Store::open(ctx.root).list_entries(layer);
  if ((*vm)["json"].as<bool>()) {
    print_builds_json(ctx.out, listing);
    return 0;
  }
  if (listing.builds.empty()) {
    ctx.out << "no builds of layer '" << layer << "' in " << ctx.root << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"", "TS", "VERIFIED", "KEEP", "LOCK", "DEF"}};
  rows.reserve(listing.builds.size() + 1);
  for (const auto& b : listing.builds) {
    rows.push_back({b.active ? "*" : "", std::string(b.ts()), verified_word(b.verified()),
                    b.has(Artifact::kKeep) ? "keep" : "",
                    b.has(Artifact::kLock) ? "yes" : "MISSING",
                    b.has(Artifact::kDef) ? "yes" : "MISSING"});
  }
  print_table(ctx.out, rows);
  return 0;
}

int cmd_point_latest(Context& ctx, const std::vector<std::string>& args) {
  auto vm = parse_options(ctx, find_command("point-latest"), no_options(), {"LAYER", "TS"}, args);
  if (!vm) return 0;
  std::string layer = layer_arg(*vm), ts = ts_arg(*vm);
  auto store = Store::open(ctx.root);
  store.point_latest(layer, ts);
  ctx.out << store.paths(layer, ts).pointer << " -> " << pointer_target(layer, ts) << "\n";
  return 0;
}

int cmd_rollback(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("to", po::value<std::string>(), "point at this <ts> instead of the previous");
  auto vm = parse_options(ctx, find_command("rollback"), d, {"LAYER"}, args);
  if (!vm) return 0;
  std::string layer = layer_arg(*vm);
  std::optional<std::string> to;
  if (vm->count("to")) to = ts_arg(*vm, "to");
  auto store = Store::open(ctx.root);
  std::string ts = store.rollback(layer, to);
  ctx.out << store.paths(layer, ts).pointer << " -> " << pointer_target(layer, ts) << "\n";
  return 0;
}

int cmd_prune(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("retain", po::value<int>(),
                  "builds to keep besides the active and .keep ones"
                  " (default: images.retain of config.yaml, else 10)")(
      "dry-run", po::bool_switch(), "print what would be pruned, remove nothing")(
      "json", po::bool_switch(), "print JSON");
  auto vm = parse_options(ctx, find_command("prune"), d, {"LAYER"}, args);
  if (!vm) return 0;
  std::string layer = layer_arg(*vm);
  if (vm->count("retain") && (*vm)["retain"].as<int>() < 0)
    throw UsageError("prune: --retain must be 0 or more");
  auto store = Store::open(ctx.root);
  int retain;
  if (vm->count("retain")) {
    retain = (*vm)["retain"].as<int>();
  } else {
    Config cfg = load_config(store.root_dir());
    print_warnings(ctx, cfg);
    retain = cfg.retain;
  }
  bool dry_run = (*vm)["dry-run"].as<bool>();
  PruneResult r = store.prune(layer, retain, dry_run);
  if ((*vm)["json"].as<bool>()) {
    print_json(ctx.out, {{"layer", layer},
                         {"retain", retain},
                         {"dry_run", dry_run},
                         {"pruned", r.pruned},
                         {"kept", r.kept}});
  } else {
    for (const auto& ts : r.pruned) ctx.out << ts << "\n";
  }
  return 0;
}

int marker_command(Context& ctx, const std::vector<std::string>& args, const char* name) {
  std::string n = name;
  po::options_description d = no_options();
  if (n == "mark-unverified")
    d.add_options()("reason", po::value<std::string>()->default_value(""),
                    "what drifted (kept in the marker's body)");
  auto vm = parse_options(ctx, find_command(n), d, {"LAYER", "TS"}, args);
  if (!vm) return 0;
  std::string layer = layer_arg(*vm), ts = ts_arg(*vm);
  auto store = Store::open(ctx.root);
  auto p = store.paths(layer, ts);
  if (n == "protect") {
    store.protect(layer, ts);
    ctx.out << p.keep << "\n";
  } else if (n == "unprotect") {
    if (!store.unprotect(layer, ts))
      ctx.err << "sifstore: " << layer << "-" << ts << " was not protected\n";
  } else if (n == "mark-verified") {
    store.mark_verified(layer, ts);
    ctx.out << p.verified << "\n";
  } else {
    store.mark_unverified(layer, ts, (*vm)["reason"].as<std::string>());
    ctx.out << p.unverified << "\n";
  }
  return 0;
}

int cmd_protect(Context& c, const std::vector<std::string>& a) {
  return marker_command(c, a, "protect");
}
int cmd_unprotect(Context& c, const std::vector<std::string>& a) {
  return marker_command(c, a, "unprotect");
}
int cmd_mark_verified(Context& c, const std::vector<std::string>& a) {
  return marker_command(c, a, "mark-verified");
}
int cmd_mark_unverified(Context& c, const std::vector<std::string>& a) {
  return marker_command(c, a, "mark-unverified");
}

const CommandRegistration kRegistrations[] = {
    CommandRegistration({"stamp", "stamp [LAYER]",
                         "print a fresh <ts>; with LAYER, reserve one newer than its builds",
                         cmd_stamp}),
    CommandRegistration(
        {"paths", "paths LAYER TS [--json]", "the artifact paths of one build", cmd_paths}),
    CommandRegistration(
        {"layers", "layers [--json]", "layers with their build count and active <ts>", cmd_layers}),
    CommandRegistration(
        {"list", "list LAYER [--json]", "builds of a layer, newest first", cmd_list}),
    CommandRegistration({"point-latest", "point-latest LAYER TS",
                         "point <layer>.sif at a build (atomic)", cmd_point_latest}),
    CommandRegistration({"rollback", "rollback LAYER [--to TS]",
                         "point latest at the previous (or given) build", cmd_rollback}),
    CommandRegistration({"prune", "prune LAYER [--retain N] [--dry-run] [--json]",
                         "remove old builds; print the pruned <ts>", cmd_prune}),
    CommandRegistration(
        {"protect", "protect LAYER TS", "keep a build from prune (.keep)", cmd_protect}),
    CommandRegistration(
        {"unprotect", "unprotect LAYER TS", "remove a build's .keep marker", cmd_unprotect}),
    CommandRegistration({"mark-verified", "mark-verified LAYER TS",
                         "mark a build round-trip verified", cmd_mark_verified}),
    CommandRegistration({"mark-unverified", "mark-unverified LAYER TS [--reason TEXT]",
                         "mark a build unverified, with the reason", cmd_mark_unverified}),
};

}  // namespace
}  // namespace sifstore::tool
