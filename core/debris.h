// The debris of builds that were killed or failed: what `sifstore build`
// clears before it starts and what `fsck --repair` removes.
//
// A build in progress owns, in its layer directory, a reservation
// `.<layer>-<ts>.reserved` and the hidden files of that `<ts>`:
//   .<layer>-<ts>.partial.sif      the image being built
//   .<layer>-<ts>.build.def        the definition handed to the builder
//   .<layer>-<ts>.build.log.partial
//   .<layer>-<ts>.verify.sif       an older SifStore's round-trip rebuild (a
//                                  verify now holds a reservation of its own
//                                  and rebuilds into its .partial.sif)
// When the reservation's owner is dead (stamp.h: reservation_is_live) all of
// them are debris, and so are the visible companions of that `<ts>` (lock,
// def, rough def) when its image never appeared. A killed build's log is
// kept, renamed to `<layer>-<ts>.build.log`, since it tells what happened.
// Hidden temporaries of an atomic write (`.<name>.tmp.<pid>.<n>`) older than
// an hour are debris too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"

namespace sifstore {

struct Debris {
  std::string name;  // file name in the layer directory
  std::string why;   // for reports: "partial image of a killed build", ...
  std::string keep_as;  // non-empty: renamed to this instead of removed
};

std::vector<Debris> find_debris(const Dir& layer_dir, std::string_view layer);

// Removes (or renames) the debris; call with the layer lock held.
void clear_debris(const Dir& layer_dir, const std::vector<Debris>& debris);

}  // namespace sifstore
