#include "core/check.h"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <set>

#include "core/chain.h"
#include "core/config.h"
#include "core/deffile.h"
#include "core/error.h"
#include "core/image_identity.h"
#include "core/lockfile.h"
#include "core/names.h"
#include "core/sha256.h"
#include "core/sif_signatures.h"
#include "core/text.h"

namespace sifstore {

std::vector<std::string> gone_bases(const std::string& locked_def_text,
                                    const std::string& locked_def_path, const PackageLock& lock) {
  namespace stdfs = std::filesystem;
  std::vector<std::string> paths;
  try {
    DefFile def = parse_def(locked_def_text, locked_def_path);
    for (const DefStage* st : def.local_image_stages())
      if (!st->from().empty()) paths.push_back(st->from());
  } catch (const Error&) {
    // A locked def that does not parse names no base it can show.
  }
  // The lock's base-image is a host path for a localimage base; a registry
  // base ("docker://...@sha256:...", "oras://...") is not a file to look for.
  if (auto it = lock.facts.find("base-image");
      it != lock.facts.end() && it->second.find("://") == std::string::npos)
    paths.push_back(it->second);
  stdfs::path def_dir;
  if (auto it = lock.facts.find("def-path"); it != lock.facts.end())
    def_dir = stdfs::path(it->second).parent_path();
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& from : paths) {
    stdfs::path p = from;
    if (p.is_relative() && !def_dir.empty()) p = def_dir / p;
    p = p.lexically_normal();
    if (!seen.insert(p.string()).second) continue;
    struct stat st;
    if (::stat(p.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR)) continue;
    std::string name = p.filename().string();
    if (name.size() > 4 && ends_with(name, ".sif")) name.resize(name.size() - 4);
    out.push_back("cannot be rebuilt: its base " + name + " is gone (" + p.string() + ")");
  }
  return out;
}

bool check_companions(const Dir& dir, const std::string& layer, const std::string& ts,
                      const std::string& lock_text, const PackageLock& lock,
                      std::vector<std::string>& warnings) {
  // Unchanged since publish (the identity record vouches for both): no
  // digest to compute, no build log to read.
  if (companions_vouched(dir, layer, ts)) return true;
  std::string def_name = artifact_name(layer, ts, Artifact::kDef);
  auto def_text = dir.read_file(def_name);
  if (!def_text)
    throw Error("build " + layer + "-" + ts + " has no locked def " + dir.path_of(def_name));
  if (auto it = lock.facts.find("locked-def-sha256"); it != lock.facts.end()) {
    std::string actual = sha256_hex(*def_text);
    if (actual != it->second)
      throw Error(dir.path_of(def_name) + " changed after it was built: its sha256 is " + actual +
                  ", the lock recorded " + it->second);
  }
  std::string log_name = artifact_name(layer, ts, Artifact::kBuildLog);
  std::optional<std::string> log;
  try {
    log = dir.read_file(log_name, 256u << 20);
  } catch (const Error& e) {
    warnings.push_back(e.what());
  }
  size_t pos = log ? log->rfind(kLockDigestLogPrefix) : std::string::npos;
  if (pos == std::string::npos) return false;  // a build made by another tool: nothing recorded
  size_t start = pos + std::char_traits<char>::length(kLockDigestLogPrefix);
  std::string recorded = log->substr(start, log->find('\n', start) - start);
  std::string actual = sha256_hex(lock_text);
  if (recorded != actual)
    throw Error(dir.path_of(artifact_name(layer, ts, Artifact::kLock)) +
                " changed after it was built: its sha256 is " + actual +
                ", the build log recorded " + recorded);
  return false;
}

CheckResult check_layer(const Store& store, const std::string& layer,
                        std::optional<bool> require_verified) {
  check_layer_name(layer);
  CheckResult r;
  const Config& cfg = store.config();
  r.warnings = cfg.warnings;
  bool required = require_verified.value_or(cfg.require_verified);

  auto target = store.root_dir().read_link(pointer_name(layer));
  if (!target)
    throw Error("layer '" + layer + "' has no latest pointer " +
                store.root_dir().path_of(pointer_name(layer)) + " (build it, or point-latest)");
  auto ts = ts_from_pointer_target(layer, *target);
  if (!ts || *target != pointer_target(layer, *ts))
    throw Error("latest pointer of layer '" + layer + "' names " + *target +
                ", which is not a build of the layer in this store (fix it: sifstore fsck --repair,"
                " or point-latest)");
  r.ts = *ts;
  auto dir = store.layer_dir(layer);
  std::string sif_name = artifact_name(layer, *ts, Artifact::kSif);
  auto paths = store.paths(layer, *ts);
  if (!dir || !dir->exists(sif_name))
    throw Error("latest pointer of layer '" + layer + "' names a missing build: " + paths.sif);
  if (dir->type_of(sif_name) != S_IFREG) throw Error(paths.sif + " is not a regular file");
  r.sif = std::filesystem::absolute(paths.sif).lexically_normal();
  // The stable pointers beside it, when present, name this build's files.
  for (Artifact a : kPointerArtifacts) {
    if (a == Artifact::kSif) continue;
    auto companion = store.root_dir().read_link(pointer_name(layer, a));
    if (companion && *companion != pointer_target(layer, *ts, a))
      r.warnings.push_back(store.root_dir().path_of(pointer_name(layer, a)) + " names " +
                           *companion + ", not the " + std::string(artifact_suffix(a)) +
                           " of the build " + pointer_name(layer) +
                           " names (sifstore fsck --repair realigns it)");
  }

  // The companions' identities before they are read: a check that finds
  // them as built lets the identity record vouch for them from then on.
  auto lock_id = identity_of(*dir, artifact_name(layer, *ts, Artifact::kLock));
  auto def_id = identity_of(*dir, artifact_name(layer, *ts, Artifact::kDef));
  auto lock_text = dir->read_file(artifact_name(layer, *ts, Artifact::kLock));
  if (!lock_text) throw Error("build " + layer + "-" + *ts + " has no lock file " + paths.lock);
  PackageLock lock = parse_lock(*lock_text, paths.lock);
  if (auto it = lock.facts.find("image-sha256"); it != lock.facts.end()) {
    std::string actual = image_sha256(*dir, layer, *ts, it->second).sha256;
    if (actual != it->second) {
      auto signed_note = signed_after_build(paths.sif, lock);
      if (!signed_note)
        throw Error(paths.sif + " changed after it was built: its sha256 is " + actual +
                    ", its lock recorded " + it->second);
      r.warnings.push_back(*signed_note);
    }
  } else {
    r.warnings.push_back(paths.lock + " records no image sha256; the image cannot be checked");
  }

  const bool vouched = check_companions(*dir, layer, *ts, *lock_text, lock, r.warnings);
  if (!vouched && lock_id && def_id) vouch_companions(*dir, layer, *ts, *lock_id, *def_id);
  if (auto def_text = dir->read_file(artifact_name(layer, *ts, Artifact::kDef)))
    for (const auto& gone : gone_bases(*def_text, paths.def, lock))
      r.warnings.push_back(layer + "-" + *ts + " " + gone);

  if (dir->exists(artifact_name(layer, *ts, Artifact::kVerified))) {
    r.state = "verified";
  } else if (auto body = dir->read_file(artifact_name(layer, *ts, Artifact::kUnverified))) {
    r.state = "unverified";
    // The marker reads "reproducibility unverified at <time>\n<reason>\n":
    // the detail is "at <time>; <reason>", which the message below follows
    // without saying "reproducibility unverified" twice.
    std::string detail = *body;
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    static const std::string kHead = "reproducibility unverified ";
    if (starts_with(detail, kHead)) detail.erase(0, kHead.size());
    r.detail = join(split(detail, '\n'), "; ");
  } else {
    r.state = "unknown";
    r.detail = "no round-trip marker found";
  }
  if (r.state != "verified") {
    bool at = starts_with(r.detail, "at ");
    std::string msg =
        layer + "-" + *ts + ": reproducibility unverified" + (at ? " " : ": ") + r.detail;
    if (required)
      throw Error(msg + " (verification is required; run: sifstore verify " + layer + ")");
    r.warnings.push_back(msg);
  }
  return r;
}

}  // namespace sifstore
