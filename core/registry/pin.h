// Pinning a definition's registry bases to digests (issue 19): what the
// build chain does before the builder runs, and what the lock and the
// locked def record of it.
//
// Every stage of the def is looked at, by its `Bootstrap:` agent:
//
//   docker, oras   The image `From:` names (with the old header keys folded
//                  in as Singularity 2 did: `Namespace: ns` prefixes a
//                  From without a '/', `Registry: host` prefixes the result)
//                  is parsed and normalised (core/registry/reference.h) and
//                  its tag resolved to a manifest digest
//                  (core/registry/resolve.h). A From that already holds a
//                  digest is kept without asking the registry.
//   localimage, scratch, debootstrap
//                  nothing to say here: a local base is pinned to the exact
//                  SIF by the build chain, a debootstrap stage by the locked
//                  def's package pins.
//   anything else  (library, shub, yum, zypper, busybox, arch, docker-daemon,
//                  docker-archive, oci, oci-archive, ...) cannot be pinned:
//                  said so in the lock and as a warning.
//
// With `offline` (build --offline, $SIFSTORE_OFFLINE=1) nothing is resolved:
// registry stages are left as written and said to be unpinned, unless the
// builder records the base itself (Apptainer 1.5's labels, see
// base_from_labels()).
//
// pinned_def_text() is the def with every pinned stage's `From:` replaced by
// `From: <name>@sha256:<hex>` (a comment keeps the rough value) and its
// `Registry:`/`Namespace:` lines commented out (they are folded into the
// From); the build chain hands this to the builder and makes the locked def
// from it, so the build pulls exactly the digest it records.
//
// Lock facts (record_pins(); read back by pins_from_facts()):
//   # base-image: docker://<name>@sha256:<hex>   the final stage's base
//   # base-tag: docker://<name>:<tag>            what it was resolved from
//   # base-unpinned: <agent>://<from> (<why>)    when it could not be pinned
//   # stage-<N>-image / -tag / -unpinned: ...    the same for an earlier
//                                                stage (N: 1-based position)
//   # base-pinned-by: image labels               (offline) the digest came from
//                                                the built image's labels
//   # registry-no-https: --no-https              the builder reached the
//                                                registry over plain HTTP
//                                                (the flag as given), so
//                                                verify passes it again
// (scheme oras:// for `Bootstrap: oras`). Credentials are never recorded.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/deffile.h"

namespace sifstore::registry {

struct StagePin {
  size_t stage = 0;    // index into DefFile::stages
  std::string agent;   // lower-cased Bootstrap: "docker", "oras", "library", ...
  std::string tagged;  // "docker://docker.io/library/python:3.11" (or as written when unparsed)
  std::string pinned;  // "docker://docker.io/library/python@sha256:...", "" when unpinned
  std::string why_unpinned;  // when pinned is "": "offline", "Bootstrap: library cannot be pinned"
  double seconds = 0;        // time spent asking the registry
  bool from_labels = false;  // pinned after the build from the image's labels
};

struct PinOptions {
  std::vector<std::string> build_args;  // the builder's; --no-https selects plain HTTP
  bool offline = false;
  std::optional<std::string> home;  // credential files (default $HOME)
};

struct DefPins {
  std::vector<StagePin> stages;  // stages that say something (registry or unpinnable agents)
  std::string no_https;          // the builder's plain-HTTP flag, "" when none

  bool empty() const { return stages.empty(); }
  // A warning for each stage that is not pinned, for the terminal.
  std::vector<std::string> warnings(const std::string& def_path) const;
};

// Resolves the def's registry stages (see above). Throws Error (nothing
// resolved is kept) when a reference is malformed or a registry cannot
// resolve it.
DefPins pin_registry_bases(const DefFile& def, const PinOptions& options);

// The def text with the pinned stages' From: naming their digests.
std::string pinned_def_text(const DefFile& def, const DefPins& pins);

// Writes the facts listed above into a lock's facts.
void record_pins(const DefPins& pins, size_t stage_count,
                 std::map<std::string, std::string>& facts);
// The pins a lock's facts record for def (the stages that are registry
// stages and have an image fact): what `lock def` pins.
DefPins pins_from_facts(const DefFile& def, const std::map<std::string, std::string>& facts);

// The facts that name bases (base-image, base-unpinned, stage-<N>-image,
// stage-<N>-unpinned) that differ between two locks: key -> (a, b), "" for
// a fact one lock lacks; registry bases only (a value with "://"), not the
// SIF path of a local base. What `lock diff` shows as the base change.
std::map<std::string, std::pair<std::string, std::string>> base_changes(
    const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b);

// For an offline build: when the final stage's registry base is unpinned
// and the built image's labels (base_from_labels()) name a base of the same
// repository, pins it to that digest (from_labels) and returns true.
bool pin_from_labels(DefPins& pins, const DefFile& def, const std::string& sif_path);

// The base Apptainer 1.5 records in the image's /.singularity.d/labels.json
// (org.opencontainers.image.base.name and .digest), as
// "docker://<name>@<digest>", or nullopt when the image has none.
std::optional<std::string> base_from_labels(const std::string& sif_path);

}  // namespace sifstore::registry
