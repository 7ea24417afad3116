// The image's environment, as a command run with `apptainer exec
// --cleanenv` sees it (docs/DESIGN.md#capture-environment): Apptainer's
// default PATH, changed by the plain assignments (`NAME=value`, `export
// NAME=value`, with quotes and ${...} expansions) of the image's
// /.singularity.d/env/*.sh scripts in name order, outside any if/case/loop/
// function (Apptainer's own 99-runtimevars.sh sets PATH in `if`s on
// variables unset under exec). Shell logic beyond that is not evaluated (a
// documented divergence of static capture).
//
// With it: which program a name runs (`which`), and which interpreter a
// script's #! line runs -- what pip and npm capture start from.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "core/squashfs.h"

namespace sifstore::capture {

// Variable name -> value.
using Vars = std::map<std::string, std::string>;

// The environment after the image's environment scripts (PATH at least).
Vars image_environment(const SquashfsImage& fs);

// The value of `name`, "" when unset.
std::string var(const Vars& vars, const std::string& name);

// The first regular file `name` in the PATH directories, as found (not
// resolved), or nullopt.
std::optional<std::string> which(const SquashfsImage& fs, const Vars& vars,
                                 const std::string& name);

// The interpreter a script's #! line runs (through `env` on the PATH, and
// pip's long-path '''exec' trick), or nullopt when it is not a script.
std::optional<std::string> interpreter_of(const SquashfsImage& fs, const Vars& vars,
                                          const std::string& script);

}  // namespace sifstore::capture
