// `<root>/config.yaml`, read with yaml-cpp (docs/DESIGN.md#configuration):
//
//   images:
//     retain: 10               # builds kept per layer by prune (>= 1)
//     require_verified: false  # `check` refuses an unverified build
//   build:
//     reuse: true              # a build whose input key equals a published
//                              # build's reuses it (core/input_key.h);
//                              # false: every build runs the builder
//   store:
//     shared: umask            # group | all | umask: permissions of what
//                              # SifStore creates (core/shared_perm.h)
//
// Every key is optional. A retain that is not a whole number >= 1 falls back
// to the default with a warning (a misconfigured retain must never stop a
// build). A file that is not valid YAML, whose `images`, `build` or `store`
// is not a mapping, or whose store.shared is not one of its three words, is
// an error naming the file and line: the user asked for settings we cannot
// read, and permissions are not guessed.
#pragma once

#include <string>
#include <vector>

#include "core/fs.h"

namespace sifstore {

inline constexpr int kDefaultRetain = 10;
inline constexpr const char* kConfigFile = "config.yaml";

struct Config {
  int retain = kDefaultRetain;
  bool require_verified = false;
  bool reuse = true;  // build.reuse
  SharedMode shared = SharedMode::kUmask;
  // Messages about values that were replaced by defaults.
  std::vector<std::string> warnings;
};

// Parses config text; `source` names it in messages.
Config parse_config(const std::string& text, const std::string& source);

// Reads `<root>/config.yaml`; defaults when it does not exist.
Config load_config(const Dir& root);

}  // namespace sifstore
