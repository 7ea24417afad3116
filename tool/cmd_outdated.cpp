// `sifstore outdated [LAYER] [--json]`: layers whose registry base tag now
// names another digest than their active build was made from
// (core/registry/outdated.h). Exit status 1 when one is outdated, as
// `npm outdated`.
#include <ostream>

#include "core/names.h"
#include "core/registry/outdated.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

std::string short_digest(const std::string& d) { return d.size() > 19 ? d.substr(0, 19) : d; }

int cmd_outdated(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("json", po::bool_switch(), "print every base checked as JSON");
  auto vm = parse_options(ctx, find_command("outdated"), d, {"LAYER?"}, args);
  if (!vm) return 0;
  std::vector<std::string> layers;
  if (vm->count("LAYER")) {
    layers.push_back((*vm)["LAYER"].as<std::string>());
    check_layer_name(layers.back());
  }
  auto entries = registry::check_outdated(Store::open(ctx.root), layers);
  bool any = false;
  for (const auto& e : entries) any = any || e.outdated;
  if ((*vm)["json"].as<bool>()) {
    json arr = json::array();
    for (const auto& e : entries)
      arr.push_back({{"layer", e.layer},
                     {"ts", e.ts},
                     {"stage", e.stage},
                     {"tag", e.tag},
                     {"current", e.current.empty() ? json(nullptr) : json(e.current)},
                     {"latest", e.latest.empty() ? json(nullptr) : json(e.latest)},
                     {"outdated", e.outdated},
                     {"note", e.note.empty() ? json(nullptr) : json(e.note)}});
    print_json(ctx.out, arr);
    return any ? 1 : 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : entries)
    if (e.outdated || !e.note.empty())
      rows.push_back({e.layer, e.stage, e.tag, e.note.empty() ? short_digest(e.current) : e.note,
                      e.note.empty() ? short_digest(e.latest) : "-"});
  if (!rows.empty()) {
    rows.insert(rows.begin(), {"layer", "stage", "tag", "current", "latest"});
    print_table(ctx.out, rows);
  }
  return any ? 1 : 0;
}

const CommandRegistration kRegistration({"outdated", "outdated [LAYER] [--json]",
                                         "layers whose registry base tag now names another digest",
                                         cmd_outdated});

}  // namespace
}  // namespace sifstore::tool
