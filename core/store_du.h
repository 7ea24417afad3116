// `sifstore du`: the disk space a store's layers and builds hold, and what
// `prune` would free.
//
// Bytes are allocated bytes (st_blocks * 512, as `du` counts them), of each
// file seen without following a symlink (a symlink counts its own blocks).
// A build holds its artifacts (names.h: image, lock, def, markers, logs,
// rough def) and its hidden companions (the identity record); a layer holds
// every file of its directory (its builds, builds in progress, debris, the
// layer lock) and its latest pointer. What prune would free is the sum of
// the builds `Store::prune(layer, retain, dry_run=true)` names: the same
// planning, nothing removed. A file with other hard links is counted where
// it is seen; removing it frees nothing while another link remains.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store.h"

namespace sifstore {

struct BuildUsage {
  std::string ts;
  uint64_t bytes = 0;
  bool active = false;
  bool keep = false;
  bool pruned = false;  // prune with this retain would remove it
};

struct LayerUsage {
  std::string layer;
  uint64_t bytes = 0;              // every file of the layer directory and its pointer
  uint64_t prunable_bytes = 0;     // the builds prune would remove
  std::vector<BuildUsage> builds;  // newest first
};

// The usage of one layer (nullopt when it does not exist) or of every layer
// (`Store::layers()`), with prune's plan for `retain` builds.
std::vector<LayerUsage> disk_usage(const Store& store, const std::optional<std::string>& layer,
                                   int retain);

}  // namespace sifstore
