#include "core/registry/outdated.h"

#include "core/error.h"
#include "core/lockfile.h"
#include "core/names.h"
#include "core/registry/reference.h"
#include "core/registry/resolve.h"

namespace sifstore::registry {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<OutdatedEntry> check_outdated(const Store& store,
                                          const std::vector<std::string>& wanted) {
  std::vector<std::string> layers = wanted;
  if (layers.empty())
    for (const auto& l : store.layers()) layers.push_back(l.name);
  std::vector<OutdatedEntry> out;
  for (const auto& layer : layers) {
    check_layer_name(layer);
    auto ts = store.active_ts(layer);
    if (!ts) {
      if (!wanted.empty()) throw Error("layer '" + layer + "' has no active build");
      continue;
    }
    auto dir = store.layer_dir(layer);
    auto text = dir ? dir->read_file(artifact_name(layer, *ts, Artifact::kLock)) : std::nullopt;
    if (!text) throw Error("build " + layer + "-" + *ts + " has no lock");
    PackageLock lock = parse_lock(*text, store.paths(layer, *ts).lock);
    ResolveOptions ro;
    ro.plain_http = lock.facts.count("registry-no-https") > 0;
    for (const auto& [key, value] : lock.facts) {
      std::string stage;
      if (ends_with(key, "-tag"))
        stage = key.substr(0, key.size() - 4);
      else if (ends_with(key, "-unpinned"))
        stage = key.substr(0, key.size() - 9);
      else
        continue;
      if (stage != "base" && stage.rfind("stage-", 0) != 0) continue;
      OutdatedEntry e;
      e.layer = layer;
      e.ts = *ts;
      e.stage = stage;
      if (ends_with(key, "-unpinned")) {
        e.tag = value.substr(0, value.find(" ("));  // "<base> (<why>)"
        e.note = "unpinned";
        out.push_back(std::move(e));
        continue;
      }
      e.tag = value;
      auto image = lock.facts.find(stage + "-image");
      size_t scheme = value.find("://");
      if (image == lock.facts.end() || scheme == std::string::npos) continue;
      e.current = image->second.substr(image->second.find('@') + 1);
      Reference ref = parse_reference(value.substr(scheme + 3));
      if (!ref.digest.empty()) continue;  // the def named a digest: nothing moves
      e.latest = resolve_digest(ref, ro).ref.digest;
      e.outdated = e.latest != e.current;
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace sifstore::registry
