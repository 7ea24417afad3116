// What a builder's release can do, read from the first line its `--version`
// prints ("apptainer version 1.1.9", "singularity-ce version 3.11.4").
//
// SifStore renders `{{ NAME }}` build arguments itself, so a def with build
// arguments builds with any release; only a secret build argument
// (--secret-build-arg) is handed to the builder as its `build --build-arg`,
// which Apptainer added in 1.2 (SingularityCE in 4.0). An older builder is
// refused before anything is built, naming its version.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sifstore {

struct BuilderRelease {
  std::string product;  // "apptainer", "singularity", "singularity-ce"
  int major = 0, minor = 0, patch = 0;
};

// Parses "<product> version X.Y[.Z][-suffix]"; nullopt for any other text.
std::optional<BuilderRelease> parse_builder_version(std::string_view first_line);

// Whether `build --build-arg` exists in that release. An unknown product or
// an unreadable line counts as yes: the builder then speaks for itself.
bool builder_has_build_args(std::string_view first_line);

}  // namespace sifstore
