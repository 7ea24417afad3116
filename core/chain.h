// The build chain: one layer from a rough definition to a published,
// reproducible build (docs/DESIGN.md#build-chain). This is what `sifstore build` runs and what
// `add_sif_layer()` drives from Ninja.
//
//   1. reserve   under the layer lock: a fresh `<ts>`, and the debris of
//                killed builds of the layer cleared.
//   2. build     `<builder> build [build args] <partial> <def>` in the def's
//                directory, into the hidden `.<layer>-<ts>.partial.sif`; the
//                output streams to the terminal and to the build log. With
//                FROM (or a `Bootstrap: localimage` def), the base is first
//                resolved to one exact timestamped SIF, which the build and
//                the locked def both name; so is the `From:` of every other
//                `Bootstrap: localimage` stage of a multi-stage def. A registry
//                base (`Bootstrap: docker`/`oras`) is first resolved to its
//                digest, which the build, the lock and the locked def name
//                (core/registry/pin.h).
//   3. capture   the lock of the new image (static by default).
//   4. lock def  the locked definition (pins applied); then the SBOM,
//                provenance and lock objects are added to the image and its
//                sha256 taken for the lock (core/provenance.h).
//      With a depfile, it is composed before the store is touched (a path
//      it cannot hold is a warning) and written before step 5, so that a
//      depfile that cannot be written fails the build with nothing published.
//   5. publish   under the layer lock: the lock, def and rough def are in
//                place; the SIF is renamed in last, so a visible SIF always
//                has both. Latest moves to it (`<layer>.lock`, `.def`,
//                then `.sif`: Store::move_pointers) unless a newer build
//                was published meanwhile; then prune (retain).
//   6. verify    optionally: rebuild from the locked def, compare, mark.
//
// The layer lock is never held while the builder runs. A failed or killed
// build leaves the previous latest untouched and nothing visible but its
// build log; its hidden debris is cleared by the next build or `fsck`.
//
// For the kill tests, $SIFSTORE_DEBUG_STOP_AT=<step> makes the process stop
// itself (SIGSTOP) at one step: reserved, built, captured, sealed, publishing
// (lock and def written, image not yet renamed), renamed (image visible,
// reservation not yet released), pointing (inside Store::move_pointers:
// `.lock` and `.def` moved, `.sif` not yet; interrupts held back), pointed
// (before prune).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/capture.h"
#include "core/lockfile.h"
#include "core/store.h"

namespace sifstore {

struct BuildOptions {
  std::string layer;
  std::string def_path;                   // the rough definition
  std::string builder = "apptainer";      // a command line
  std::vector<std::string> builder_args;  // extra words after `build` (--builder-arg)
  // Template values ({{ KEY }}, --build-arg KEY=VALUE): rendered by SifStore
  // into the def the builder gets and into the locked def, and recorded in
  // the lock (fact "build-args", a JSON object of every value rendered).
  std::map<std::string, std::string> build_args;
  // Secret values (--secret-build-arg): never written anywhere by SifStore.
  // Their templates stay in the defs; the builder gets them as its own
  // `--build-arg KEY=VALUE` (Apptainer >= 1.2); the lock records their names
  // only (fact "secret-build-args"), and the build log shows no value.
  std::map<std::string, std::string> secret_build_args;
  // A layer remembers the definition it is built from (its newest build's
  // lock records `def-path`): a build from another definition is refused
  // before anything is built, unless it takes the layer over.
  bool take_over = false;
  std::optional<std::string> from_layer;  // base layer: its active build is the base
  std::optional<int> retain;              // else config.yaml, else 10
  bool verify = false;
  bool pin_apt = false;
  CaptureMethod capture = CaptureMethod::kStatic;
  bool offline = false;                       // no registry lookups (core/registry/pin.h)
  std::optional<std::string> depfile;         // write a Ninja depfile here
  std::optional<std::string> depfile_target;  // default: the latest pointer's path
  int echo_fd = 2;                            // build output also goes here; -1: only the log
  // Sign the sealed image with `<builder> sign [--keyidx N] <image>` before
  // it is published, so its digest in the lock is the signed image's.
  bool sign = false;
  std::optional<int> sign_keyidx;
  // Build anew although a published build of the layer has the same input
  // key (core/input_key.h); config.yaml `build.reuse: false` does the same
  // for every build of the store.
  bool rebuild = false;
  // Called with each warning as soon as it is known, before the builder
  // runs: %files sources SifStore cannot resolve ("<def>:<line>: ...", the
  // depfile cannot list them) and paths a depfile cannot hold (a change to
  // either will not rerun the build). Unset: warnings are dropped.
  std::function<void(const std::string&)> warn;
};

struct VerifyResult {
  LockDiff diff;
  std::string marker;  // path of the .verified / .unverified marker written
};

struct BuildResult {
  std::string ts;
  ArtifactPaths paths;
  PackageLock lock;
  bool pointed = false;             // latest now names this build
  std::vector<std::string> pruned;  // `<ts>` removed by the prune step
  std::optional<VerifyResult> verify;
  std::optional<std::string> base;  // the exact base SIF, for FROM builds
  // For the terminal: the bases that are not pinned (core/registry/pin.h).
  std::vector<std::string> warnings;
  // The build's input key (lock fact `input-key`), and whether the build
  // is a published one of the same key, reused: no builder ran, latest
  // now names it (ts).
  std::string input_key;
  bool reused = false;
};

// Before it reserves anything, build_layer computes the build's input key;
// unless asked to rebuild, the newest published build of the layer whose
// lock records the same key, and that is whole (its image hashes to its
// lock's image-sha256, through the identity shortcut, and its locked def and
// lock are as built: check_companions), is reused: latest is moved to it
// (Store::move_pointers, under the layer lock), the depfile written, and
// the result says reused. A build that is not whole is never reused.
BuildResult build_layer(const Store& store, const BuildOptions& options);

struct VerifyOptions {
  std::string layer;
  std::optional<std::string> ts;  // default: the active build
  std::string builder = "apptainer";
  std::vector<std::string> builder_args;  // extra words after `build`
  // The values of the build's secret build arguments (the lock names them);
  // a missing one is an Error naming it, before the builder runs.
  std::map<std::string, std::string> secret_build_args;
  CaptureMethod capture = CaptureMethod::kStatic;
  int echo_fd = 2;
};

// Rebuilds a build from its locked def into a hidden temporary image,
// captures its lock, compares it with the build's lock and writes the
// `.verified` or `.unverified` marker (with the drift summary). The rebuilt
// image is removed. Only a completed comparison writes a marker: a rebuild or
// capture that fails or is interrupted is an Error "could not verify
// <layer>-<ts>: <reason>" and leaves the build's marker (or its absence) as
// it was. (build_layer with `verify`: the build stays published and the
// Error says so.)
VerifyResult verify_build(const Store& store, const VerifyOptions& options);

// The hidden names of a build in progress (partial_sif_name(), ...) are
// defined with every other hidden name in core/names.h.

// The build log line that records the digest of the build's lock file:
// "sifstore: lock-sha256: <hex>".
inline constexpr const char* kLockDigestLogPrefix = "sifstore: lock-sha256: ";

}  // namespace sifstore
