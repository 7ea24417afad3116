// Names in a store: layer names, build timestamps and the file names of the
// artifacts of one build.
//
//   <root>/<layer>.sif  -> <layer>/<layer>-<ts>.sif    the latest pointer
//   <root>/<layer>.lock -> <layer>/<layer>-<ts>.lock   its stable lock pointer
//   <root>/<layer>.def  -> <layer>/<layer>-<ts>.def    its stable locked-def pointer
//   <root>/<layer>/<layer>-<ts>.{sif,lock,def,verified,unverified,keep,build.log}
//   <root>/<layer>/.<layer>-<ts>.identity              SifStore's hidden companions
//   <root>/<layer>/.<layer>-<ts>.hold.<id>             a hold of a job on the build
//
// Pure string functions: nothing here touches the disk.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace sifstore {

// A layer name is 1..128 characters of [A-Za-z0-9._-], not starting with '.'
// or '-', not ending in an artifact suffix (".sif", ".lock", ".def",
// ".verified", ..., see artifact_suffix). It can therefore never name a
// parent directory, contain a '/', collide with SifStore's hidden files, or
// be the name of another layer's pointer (layer `x.sif` would be the
// directory where layer `x` has its latest pointer).
bool is_valid_layer_name(std::string_view layer);
// Throws Error naming the layer and the rule it breaks.
void check_layer_name(std::string_view layer);

// A build timestamp `<ts>` has the shape YYYY-MMDD-HHMMSS (regex
// \d{4}-\d{4}-\d{6}); it sorts chronologically as a string.
bool has_ts_shape(std::string_view ts);
// Shape plus a real calendar date and time of day (month 01-12, day 01-31,
// hour < 24, minute < 60, second < 61). Used for timestamps given by users.
bool is_valid_ts(std::string_view ts);
// Throws Error naming the timestamp and the expected form.
void check_ts(std::string_view ts);

// The artifact files of one build, in the order prune removes them: the
// image first, so that a build vanishes from listings before its companions.
// The first seven are the reference tool's; `.rough.def` (the definition
// the build started from, copied beside it by `sifstore build`) is
// SifStore's own and is removed with the rest.
enum class Artifact { kSif, kLock, kDef, kVerified, kUnverified, kKeep, kBuildLog, kRoughDef };
inline constexpr std::array<Artifact, 8> kAllArtifacts = {
    Artifact::kSif,        Artifact::kLock, Artifact::kDef,      Artifact::kVerified,
    Artifact::kUnverified, Artifact::kKeep, Artifact::kBuildLog, Artifact::kRoughDef};

// ".sif", ".lock", ".def", ".verified", ".unverified", ".keep", ".build.log",
// ".rough.def".
std::string_view artifact_suffix(Artifact a);

// "<layer>-<ts><suffix>", the file name inside the layer directory.
std::string artifact_name(std::string_view layer, std::string_view ts, Artifact a);

// SifStore's hidden files. Every name SifStore gives a file the reference
// tool must not see is defined here, and nowhere else.
//
// In the store root and in each layer directory:
//   .sifstore-timebase   the store's time base, "utc" or "local" (core/stamp.h)
//   .sifstore-lock       the layer lock a writer holds (core/layer_lock.h)
inline constexpr const char* kTimeBaseFile = ".sifstore-timebase";
inline constexpr const char* kLayerLockFile = ".sifstore-lock";
// In the store root only:
//   .sifstore-source-identities   the recorded identities and sha256s of
//                                 hashed %files sources (core/input_key.h):
//                                 a cache, rewritten by builds
inline constexpr const char* kSourceIdentitiesFile = ".sifstore-source-identities";

// A build in progress, ".<layer>-<ts><suffix>" in its layer directory
// (core/chain.h; what a killed build leaves is cleared by core/debris.h):
//   .reserved             the <ts> is taken: who holds it, since when
//   .partial.sif          the image being built (published by a rename)
//   .build.log.partial    its build log
//   .build.def            the def handed to the builder (its `From:` is the
//                         exact base image: prune keeps that base)
//   .verify.sif           a verify's rebuild (older SifStore; a verify now
//                         rebuilds into the .partial.sif of its own <ts>)
inline constexpr std::string_view kReservedSuffix = ".reserved";
inline constexpr std::string_view kPartialSifSuffix = ".partial.sif";
inline constexpr std::string_view kPartialLogSuffix = ".build.log.partial";
inline constexpr std::string_view kBuildDefSuffix = ".build.def";
inline constexpr std::string_view kVerifySifSuffix = ".verify.sif";

std::string reservation_name(std::string_view layer, std::string_view ts);
std::string partial_sif_name(std::string_view layer, std::string_view ts);
std::string partial_log_name(std::string_view layer, std::string_view ts);
std::string build_def_name(std::string_view layer, std::string_view ts);
std::string verify_sif_name(std::string_view layer, std::string_view ts);

// SifStore's own hidden companions of a build, ".<layer>-<ts><suffix>": the
// reference tool's globs (`<layer>-*.sif`) never see them. They belong to
// the build: prune removes them with it and fsck --repair removes them when
// its image is gone.
//   .identity   the image's identity as the file system saw it after a full
//               hash that matched the lock (core/image_identity.h)
inline constexpr std::string_view kIdentitySuffix = ".identity";
inline constexpr std::array<std::string_view, 1> kHiddenCompanionSuffixes = {kIdentitySuffix};

// ".<layer>-<ts><suffix>", a hidden file of one build.
std::string hidden_name(std::string_view layer, std::string_view ts, std::string_view suffix);
// ".<layer>-<ts>.identity".
std::string identity_record_name(std::string_view layer, std::string_view ts);

// The <ts> of a hidden name ".<layer>-<ts><suffix>" (a <ts> of the right
// shape, exactly that suffix), else nullopt.
std::optional<std::string> parse_hidden_name(std::string_view layer, std::string_view file_name,
                                             std::string_view suffix);

// A hold on a build (core/holds.h): ".<layer>-<ts>.hold.<id>", one file per
// hold, <id> 1..64 characters of [A-Za-z0-9_+-] (a Slurm job id such as
// 123, 123_4 or 123+1, or a generated one). Removed with the build by prune,
// an orphan for fsck without it.
inline constexpr std::string_view kHoldInfix = ".hold.";
bool is_valid_hold_id(std::string_view id);
std::string hold_name(std::string_view layer, std::string_view ts, std::string_view id);
struct ParsedHold {
  std::string ts, id;
};
std::optional<ParsedHold> parse_hold_name(std::string_view layer, std::string_view file_name);

// Splits a file name of the layer directory into (ts, artifact) when it is
// exactly "<layer>-<ts><suffix>" with a ts of the right shape.
struct ParsedArtifact {
  std::string ts;
  Artifact artifact;
};
std::optional<ParsedArtifact> parse_artifact_name(std::string_view layer,
                                                  std::string_view file_name);

// "<layer>.sif": the latest pointer, a symlink in the store root.
std::string pointer_name(std::string_view layer);
// "<layer>/<layer>-<ts>.sif": the relative target SifStore writes.
std::string pointer_target(std::string_view layer, std::string_view ts);

// The stable pointers of a layer: symlinks in the store root that name the
// image, the lock and the locked def of one build, the active one. The
// latest pointer is the `.sif` one; `.lock` and `.def` follow it (SifStore's
// own: the reference tool moves only `.sif`). They are written in this
// order, the latest pointer last, so that whenever `<layer>.sif` names a
// build, the other two were moved to that build first (see
// Store::move_pointers).
inline constexpr std::array<Artifact, 3> kPointerArtifacts = {Artifact::kLock, Artifact::kDef,
                                                              Artifact::kSif};
// "<layer><suffix>" ("<layer>.lock") and "<layer>/<layer>-<ts><suffix>".
std::string pointer_name(std::string_view layer, Artifact a);
std::string pointer_target(std::string_view layer, std::string_view ts, Artifact a);

// The <ts> a pointer target names, read as the reference tool reads it: the
// exact relative form first, else the last path component when it is
// "<layer>-<ts>.sif" (absolute or oddly shaped targets).
std::optional<std::string> ts_from_pointer_target(std::string_view layer, std::string_view target);

}  // namespace sifstore
