// `sifstore du [LAYER] [--retain N] [--json]`: bytes held per layer and per
// build, and what prune would free (core/store_du.h).
#include <cstdio>
#include <optional>
#include <ostream>

#include "core/config.h"
#include "core/names.h"
#include "core/store_du.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

// "512 B", "4.0 KiB", "1.5 GiB".
std::string human(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < sizeof kUnits / sizeof *kUnits) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  }
  return buf;
}

int cmd_du(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("retain", po::value<int>(),
                  "plan prune with N retained builds (default: images.retain of config.yaml, "
                  "else 10)")("json", po::bool_switch(), "print JSON");
  auto vm = parse_options(ctx, find_command("du"), d, {"LAYER?"}, args);
  if (!vm) return 0;
  std::optional<std::string> layer;
  if (vm->count("LAYER")) {
    layer = (*vm)["LAYER"].as<std::string>();
    check_layer_name(*layer);
  }
  std::optional<int> retain_opt;
  if (vm->count("retain")) {
    retain_opt = (*vm)["retain"].as<int>();
    if (*retain_opt < 0) throw UsageError("du: --retain must be 0 or more");
  }
  auto store = Store::open(ctx.root);
  int retain;
  if (retain_opt) {
    retain = *retain_opt;
  } else {
    Config cfg = load_config(store.root_dir());
    for (const auto& w : cfg.warnings) ctx.err << "sifstore: warning: " << w << "\n";
    retain = cfg.retain;
  }
  auto usage = disk_usage(store, layer, retain);
  uint64_t total = 0, prunable = 0;
  for (const auto& u : usage) {
    total += u.bytes;
    prunable += u.prunable_bytes;
  }
  if ((*vm)["json"].as<bool>()) {
    json layers = json::array();
    for (const auto& u : usage) {
      json builds = json::array();
      for (const auto& b : u.builds)
        builds.push_back({{"ts", b.ts},
                          {"bytes", b.bytes},
                          {"active", b.active},
                          {"keep", b.keep},
                          {"pruned_by_prune", b.pruned}});
      layers.push_back({{"layer", u.layer},
                        {"bytes", u.bytes},
                        {"prunable_bytes", u.prunable_bytes},
                        {"builds", builds}});
    }
    print_json(
        ctx.out,
        {{"retain", retain}, {"bytes", total}, {"prunable_bytes", prunable}, {"layers", layers}});
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  if (layer) {
    rows.push_back({"TS", "SIZE", "BYTES", "STATE"});
    for (const auto& b : usage.front().builds) {
      std::string state = b.active ? "active" : b.keep ? "keep" : b.pruned ? "prune frees" : "kept";
      if (b.active && b.keep) state = "active, keep";
      rows.push_back({b.ts, human(b.bytes), std::to_string(b.bytes), state});
    }
  } else {
    rows.push_back({"LAYER", "BUILDS", "SIZE", "PRUNE WOULD FREE"});
    for (const auto& u : usage)
      rows.push_back(
          {u.layer, std::to_string(u.builds.size()), human(u.bytes), human(u.prunable_bytes)});
  }
  print_table(ctx.out, rows);
  ctx.out << "total " << human(total) << " (" << total << " bytes); prune --retain " << retain
          << " would free " << human(prunable) << " (" << prunable << " bytes)\n";
  return 0;
}

const CommandRegistration kRegistration(
    {"du", "du [LAYER] [--retain N] [--json]",
     "bytes held per layer and build, and what prune would free", cmd_du});

}  // namespace
}  // namespace sifstore::tool
