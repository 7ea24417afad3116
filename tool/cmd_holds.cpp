// `sifstore holds [LAYER] [--json]`: the holds jobs have on builds
// (core/holds.h), with whether each still keeps its build from prune.
#include <ctime>
#include <ostream>

#include "core/error.h"
#include "core/holds.h"
#include "core/names.h"
#include "core/store.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

int cmd_holds(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("json", po::bool_switch(), "print JSON");
  auto vm = parse_options(ctx, find_command("holds"), d, {"LAYER?"}, args);
  if (!vm) return 0;
  Store store = Store::open(ctx.root);
  std::vector<std::string> layers;
  if (vm->count("LAYER")) {
    std::string layer = (*vm)["LAYER"].as<std::string>();
    check_layer_name(layer);
    if (!store.layer_dir(layer) && !store.root_dir().read_link(pointer_name(layer)))
      throw Error("layer '" + layer + "' not found in store " + store.root());
    layers.push_back(layer);
  } else {
    for (const auto& info : store.layers()) layers.push_back(info.name);
  }
  HoldJudge judge(static_cast<int64_t>(std::time(nullptr)));
  json out = json::array();
  std::vector<std::vector<std::string>> rows = {{"LAYER", "TS", "HOLD", "JOB", "STATE", "WHY"}};
  for (const auto& layer : layers) {
    auto dir = store.layer_dir(layer);
    if (!dir) continue;
    for (const auto& h : read_holds(*dir, layer)) {
      HoldVerdict v = judge.judge(h);
      out.push_back({{"layer", layer},
                     {"ts", h.ts},
                     {"id", h.id},
                     {"job", h.job.empty() ? json(nullptr) : json(h.job)},
                     {"until", h.until},
                     {"host", h.host},
                     {"created", h.created},
                     {"state", hold_state_name(v.state)},
                     {"why", v.why},
                     {"path", dir->path_of(h.file)}});
      rows.push_back({layer, h.ts, h.id, h.job.empty() ? "-" : h.job, hold_state_name(v.state),
                      h.readable ? v.why : v.why + " (unreadable hold file)"});
    }
  }
  if ((*vm)["json"].as<bool>()) {
    print_json(ctx.out, out);
  } else if (rows.size() > 1) {
    print_table(ctx.out, rows);
  }
  return 0;
}

const CommandRegistration kRegistration(
    {"holds", "holds [LAYER] [--json]",
     "list the holds jobs have on builds (kept by prune while live)", cmd_holds});

}  // namespace
}  // namespace sifstore::tool
