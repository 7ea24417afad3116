// `sifstore log LAYER [-n N] [--json]` and `sifstore diff (LAYER TS1 TS2 |
// A.sif B.sif) [--json]`: the builds of a layer with what changed between
// them (core/build_history.h), and the difference of any two builds
// including their locked definitions.
#include <sys/stat.h>

#include <ostream>

#include "core/build_history.h"
#include "core/capture.h"
#include "core/error.h"
#include "core/names.h"
#include "core/provenance.h"
#include "core/sif.h"
#include "core/squashfs.h"
#include "core/store.h"
#include "core/text.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

std::string fact(const PackageLock& lock, const std::string& key, const std::string& none = "") {
  auto it = lock.facts.find(key);
  return it == lock.facts.end() ? none : it->second;
}

json changes_json(const BuildChanges& c) {
  json packages = json::array();
  for (const auto& p : c.packages) {
    json j;
    j["change"] = change_kind_name(p.kind);
    j["ecosystem"] = p.ecosystem;
    j["name"] = p.name;
    j["from"] = p.from.empty() ? json(nullptr) : json(p.from);
    j["to"] = p.to.empty() ? json(nullptr) : json(p.to);
    packages.push_back(std::move(j));
  }
  json j;
  j["packages"] = std::move(packages);
  j["base"] = c.base ? json{{"from", c.base->first}, {"to", c.base->second}} : json(nullptr);
  return j;
}

void print_changes(std::ostream& out, const BuildChanges& c, const std::string& indent) {
  if (c.base)
    out << indent << "base: " << (c.base->first.empty() ? "(none)" : c.base->first) << " -> "
        << (c.base->second.empty() ? "(none)" : c.base->second) << "\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : c.packages) {
    std::string versions = p.kind == PackageChange::kAdded     ? p.to
                           : p.kind == PackageChange::kRemoved ? p.from
                                                               : p.from + " -> " + p.to;
    rows.push_back({indent + change_kind_name(p.kind), p.ecosystem, p.name, versions});
  }
  print_table(out, rows);
}

std::string state_of(const BuildEntry& b) {
  auto v = b.verified();
  return !v ? "unknown" : *v ? "verified" : "unverified";
}

int cmd_log(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("max-count,n", po::value<int>(), "show the newest N builds")(
      "json", po::bool_switch(), "print JSON");
  auto vm = parse_options(ctx, find_command("log"), d, {"LAYER"}, args);
  if (!vm) return 0;
  std::string layer = (*vm)["LAYER"].as<std::string>();
  check_layer_name(layer);
  int limit = vm->count("max-count") ? (*vm)["max-count"].as<int>() : -1;
  if (vm->count("max-count") && limit < 0) throw UsageError("log: -n must not be negative");
  Store store = Store::open(ctx.root);
  BuildListing listing = store.list_entries(layer);
  if (listing.builds.empty()) throw Error("layer '" + layer + "' has no builds in " + ctx.root);
  auto dir = store.layer_dir(layer);

  // Each build's lock (nullopt when it has none or it does not parse).
  std::vector<std::optional<PackageLock>> locks;
  std::vector<std::string> problems;
  for (const auto& b : listing.builds) {
    std::string ts(b.ts());
    std::optional<PackageLock> lock;
    try {
      if (auto text = dir->read_file(artifact_name(layer, ts, Artifact::kLock)))
        lock = parse_lock(*text, store.paths(layer, ts).lock);
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
    locks.push_back(std::move(lock));
  }

  json all = json::array();
  size_t shown = 0;
  for (size_t i = 0; i < listing.builds.size(); ++i) {
    if (limit >= 0 && shown >= static_cast<size_t>(limit)) break;
    ++shown;
    const BuildEntry& b = listing.builds[i];
    std::string ts(b.ts());
    // The build before it: the next older one with a lock.
    std::optional<size_t> prev;
    for (size_t k = i + 1; k < listing.builds.size() && locks[i]; ++k)
      if (locks[k]) {
        prev = k;
        break;
      }
    std::optional<BuildChanges> changes;
    if (locks[i] && prev) changes = compare_builds(*locks[*prev], *locks[i]);
    const PackageLock empty;
    const PackageLock& lock = locks[i] ? *locks[i] : empty;
    if ((*vm)["json"].as<bool>()) {
      json j;
      j["ts"] = ts;
      j["active"] = b.active;
      j["state"] = state_of(b);
      j["has_lock"] = locks[i].has_value();
      j["built_by"] = fact(lock, "built-by").empty() ? json(nullptr) : json(fact(lock, "built-by"));
      std::string secs = fact(lock, "build-seconds");
      j["build_seconds"] = secs.empty() ? json(nullptr) : json(std::atol(secs.c_str()));
      j["base"] = fact(lock, "base-image").empty() ? json(nullptr) : json(fact(lock, "base-image"));
      j["previous"] = prev ? json(std::string(listing.builds[*prev].ts())) : json(nullptr);
      j["changes"] = changes ? changes_json(*changes) : json(nullptr);
      all.push_back(std::move(j));
      continue;
    }
    ctx.out << layer << "-" << ts << "  " << state_of(b);
    if (b.active) ctx.out << "  (latest)";
    ctx.out << "\n";
    std::string by = fact(lock, "built-by"), secs = fact(lock, "build-seconds");
    if (!by.empty() || !secs.empty())
      ctx.out << "  built by " << (by.empty() ? "unknown" : by)
              << (secs.empty() ? "" : " in " + secs + " s") << "\n";
    if (!locks[i]) {
      ctx.out << "  no lock: what it holds is unknown\n";
    } else if (!prev) {
      ctx.out << "  first build: " << lock.dpkg.size() << " deb, " << lock.pip.size() << " pypi, "
              << node_versions(lock.node).size() << " npm packages\n";
    } else if (changes->empty()) {
      ctx.out << "  no change since " << listing.builds[*prev].ts() << "\n";
    } else {
      ctx.out << "  since " << listing.builds[*prev].ts() << ":\n";
      print_changes(ctx.out, *changes, "    ");
    }
  }
  if ((*vm)["json"].as<bool>()) print_json(ctx.out, all);
  for (const auto& p : problems) ctx.err << "sifstore: warning: " << p << "\n";
  return 0;
}

// One side of a diff: a lock and a definition, with a label.
struct Side {
  std::string label;
  PackageLock lock;
  std::string def;
};

Side build_side(const Store& store, const std::string& layer, const std::string& ts) {
  check_ts(ts);
  auto dir = store.layer_dir(layer);
  auto paths = store.paths(layer, ts);
  if (!dir || !dir->exists(artifact_name(layer, ts, Artifact::kSif)))
    throw Error("build not found: " + paths.sif);
  auto lock = dir->read_file(artifact_name(layer, ts, Artifact::kLock));
  if (!lock) throw Error("build " + layer + "-" + ts + " has no lock: " + paths.lock);
  Side s{layer + "-" + ts, parse_lock(*lock, paths.lock), ""};
  s.def = dir->read_file(artifact_name(layer, ts, Artifact::kDef)).value_or("");
  return s;
}

Side image_side(const std::string& path) {
  SifImage image = SifImage::open(path);
  Side s{path, {}, image.definition().value_or("")};
  EmbeddedProvenance e = read_embedded_provenance(image);
  s.lock = e.lock ? parse_lock(*e.lock, path + " (embedded lock)")
                  : capture_static(SquashfsImage::open_primary(image));
  return s;
}

int cmd_diff(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("json", po::bool_switch(), "print JSON");
  auto vm = parse_options(ctx, find_command("diff"), d, {"A", "B", "C?"}, args);
  if (!vm) return 0;
  Side a, b;
  std::string what;
  if (vm->count("C")) {
    std::string layer = (*vm)["A"].as<std::string>();
    check_layer_name(layer);
    Store store = Store::open(ctx.root);
    a = build_side(store, layer, (*vm)["B"].as<std::string>());
    b = build_side(store, layer, (*vm)["C"].as<std::string>());
    what = "locked def";
  } else {
    a = image_side((*vm)["A"].as<std::string>());
    b = image_side((*vm)["B"].as<std::string>());
    what = "definition";
  }
  BuildChanges c = compare_builds(a.lock, b.lock);
  std::string def_diff = line_diff(a.def, b.def);
  if ((*vm)["json"].as<bool>()) {
    json j;
    j["a"] = a.label;
    j["b"] = b.label;
    j["changes"] = changes_json(c);
    j["def_diff"] = def_diff;
    print_json(ctx.out, j);
  } else {
    ctx.out << a.label << " -> " << b.label << "\n";
    if (c.empty())
      ctx.out << "  same packages\n";
    else
      print_changes(ctx.out, c, "  ");
    if (def_diff.empty()) {
      ctx.out << "same " << what << "\n";
    } else {
      ctx.out << "--- " << what << " of " << a.label << "\n+++ " << what << " of " << b.label
              << "\n"
              << def_diff;
    }
  }
  return c.empty() && def_diff.empty() ? 0 : 1;
}

const CommandRegistration kLog({"log", "log LAYER [-n N] [--json]",
                                "builds newest first, each with what changed since the one before",
                                cmd_log});
const CommandRegistration kDiff({"diff", "diff (LAYER TS1 TS2 | A.sif B.sif) [--json]",
                                 "packages and locked def changed between two builds; exit 1 when "
                                 "they differ",
                                 cmd_diff});

}  // namespace
}  // namespace sifstore::tool
