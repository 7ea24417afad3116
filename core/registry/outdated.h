// `sifstore outdated`: for each layer, whether the tags its active build's
// registry bases were resolved from now name other digests (like `npm
// outdated`).
//
// The active build's lock says what it was made from (core/registry/pin.h):
// each `base-tag`/`stage-<N>-tag` fact with its `-image` digest. The tag is
// resolved again, the way the build reached the registry (plain HTTP when
// the lock records `registry-no-https`; credentials looked up as for a
// build), and compared with the recorded digest. Bases the lock records as
// unpinned are reported as such (nothing to compare); layers without an
// active build or without registry bases report nothing.
//
// A registry that cannot be asked is an Error naming it (as for a build).
#pragma once

#include <string>
#include <vector>

#include "core/store.h"

namespace sifstore::registry {

struct OutdatedEntry {
  std::string layer;
  std::string ts;       // the active build
  std::string stage;    // "base" (final stage) or "stage-<N>"
  std::string tag;      // "docker://host/name:tag"
  std::string current;  // the digest the build was made from; "" when unpinned
  std::string latest;   // the digest the tag names now; "" when unpinned
  bool outdated = false;
  std::string note;  // why nothing was compared (unpinned)
};

// The entries of the given layers (every layer of the store when empty), in
// layer order.
std::vector<OutdatedEntry> check_outdated(const Store& store,
                                          const std::vector<std::string>& layers);

}  // namespace sifstore::registry
