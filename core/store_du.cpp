#include "core/store_du.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/names.h"

namespace sifstore {
namespace {

// Allocated bytes of an entry of dir, not following a symlink; 0 when gone.
uint64_t allocated(int dir_fd, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512u;
}

LayerUsage layer_usage(const Store& store, const std::string& layer, int retain) {
  LayerUsage u;
  u.layer = layer;
  u.bytes = allocated(store.root_dir().fd(), pointer_name(layer));
  auto dir = store.layer_dir(layer);
  if (!dir) return u;
  std::map<std::string, uint64_t> file_bytes;
  dir->scan([&](std::string_view name, unsigned char type) {
    if (type == DT_DIR) return;  // a directory bearing a build's name is no part of it
    std::string n(name);
    uint64_t b = allocated(dir->fd(), n);
    u.bytes += b;
    file_bytes.emplace(std::move(n), b);
  });
  auto bytes_of = [&](const std::string& name) {
    auto it = file_bytes.find(name);
    return it == file_bytes.end() ? uint64_t{0} : it->second;
  };
  PruneResult plan = store.prune(layer, retain, /*dry_run=*/true);
  for (const auto& b : store.list(layer)) {
    BuildUsage bu;
    bu.ts = b.ts;
    bu.active = b.active;
    bu.keep = b.keep;
    bu.pruned = std::find(plan.pruned.begin(), plan.pruned.end(), b.ts) != plan.pruned.end();
    for (Artifact a : kAllArtifacts) bu.bytes += bytes_of(artifact_name(layer, b.ts, a));
    for (std::string_view suffix : kHiddenCompanionSuffixes)
      bu.bytes += bytes_of(hidden_name(layer, b.ts, suffix));
    if (bu.pruned) u.prunable_bytes += bu.bytes;
    u.builds.push_back(std::move(bu));
  }
  return u;
}

}  // namespace

std::vector<LayerUsage> disk_usage(const Store& store, const std::optional<std::string>& layer,
                                   int retain) {
  std::vector<LayerUsage> out;
  if (layer) {
    check_layer_name(*layer);
    if (!store.layer_dir(*layer) && !store.root_dir().read_link(pointer_name(*layer)))
      throw Error("layer '" + *layer + "' not found in store " + store.root());
    out.push_back(layer_usage(store, *layer, retain));
    return out;
  }
  for (const auto& info : store.layers()) out.push_back(layer_usage(store, info.name, retain));
  return out;
}

}  // namespace sifstore
