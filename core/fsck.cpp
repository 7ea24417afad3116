#include "core/fsck.h"

#include <sys/stat.h>

#include <ctime>
#include <map>
#include <set>

#include "core/check.h"
#include "core/debris.h"
#include "core/error.h"
#include "core/holds.h"
#include "core/image_identity.h"
#include "core/layer_lock.h"
#include "core/lockfile.h"
#include "core/names.h"
#include "core/sha256.h"
#include "core/sif_signatures.h"
#include "core/stamp.h"
#include "core/text.h"

namespace sifstore {
namespace {

struct TsFiles {
  unsigned mask = 0;
  bool sif_regular = true;
  bool has(Artifact a) const { return mask & (1u << static_cast<unsigned>(a)); }
};

// Tamper evidence of one complete build (check.h: check_companions), and
// with hash_images the image's sha256 against its lock.
void check_digests(const Dir& dir, const std::string& layer, const std::string& ts,
                   bool hash_images, FsckReport& report) {
  std::string lock_name = artifact_name(layer, ts, Artifact::kLock);
  try {
    auto text = dir.read_file(lock_name);
    if (!text) return;
    PackageLock lock = parse_lock(*text, dir.path_of(lock_name));
    std::vector<std::string> warnings;
    check_companions(dir, layer, ts, *text, lock, warnings);
    std::string def_name = artifact_name(layer, ts, Artifact::kDef);
    if (auto def_text = dir.read_file(def_name))
      for (const auto& gone : gone_bases(*def_text, dir.path_of(def_name), lock))
        report.findings.push_back(
            {dir.path_of(artifact_name(layer, ts, Artifact::kSif)), gone, ""});
    auto it = lock.facts.find("image-sha256");
    if (hash_images && it != lock.facts.end()) {
      std::string sif = dir.path_of(artifact_name(layer, ts, Artifact::kSif));
      std::string actual = image_sha256(dir, layer, ts, it->second, /*force_full=*/true).sha256;
      if (actual != it->second && !signed_after_build(sif, lock))
        report.findings.push_back(
            {sif,
             "image changed after it was built: sha256 " + actual + ", lock recorded " + it->second,
             ""});
    }
  } catch (const Error& e) {
    report.findings.push_back({dir.path_of(lock_name), e.what(), ""});
  }
}

void check_layer_dir(const Store& store, const Dir& dir, const std::string& layer,
                     const FsckOptions& options, FsckReport& report) {
  const bool repair = options.repair;
  std::optional<LayerLock> lock;
  if (repair) lock.emplace(dir);
  auto debris = find_debris(dir, layer);
  for (const auto& d : debris)
    report.findings.push_back(
        {dir.path_of(d.name), d.why,
         repair ? (d.keep_as.empty() ? "removed" : "kept as " + d.keep_as) : ""});
  if (repair) clear_debris(dir, debris);

  std::map<std::string, TsFiles> builds;
  std::set<std::string> live;
  std::vector<std::pair<std::string, std::string>> companions;  // (<ts>, hidden file name)
  for (const auto& e : dir.scan()) {
    if (auto p = parse_artifact_name(layer, e.name)) {
      auto& f = builds[p->ts];
      f.mask |= 1u << static_cast<unsigned>(p->artifact);
      if (p->artifact == Artifact::kSif) {
        auto t = e.type == DT_UNKNOWN ? dir.type_of(e.name) : std::optional<mode_t>();
        f.sif_regular = e.type == DT_REG || (t && *t == S_IFREG);
      }
    } else if (auto reserved = parse_hidden_name(layer, e.name, kReservedSuffix)) {
      live.insert(*reserved);
    } else {
      for (std::string_view suffix : kHiddenCompanionSuffixes)
        if (auto ts = parse_hidden_name(layer, e.name, suffix))
          companions.emplace_back(*ts, e.name);
    }
  }
  // Holds: an orphan without its image, or dead (holds.h).
  HoldJudge judge(static_cast<int64_t>(std::time(nullptr)));
  for (const auto& h : read_holds(dir, layer)) {
    auto it = builds.find(h.ts);
    std::string problem;
    if (it == builds.end() || !it->second.has(Artifact::kSif)) {
      problem = "orphan: no image " + artifact_name(layer, h.ts, Artifact::kSif);
    } else if (HoldVerdict v = judge.judge(h); !v.keeps()) {
      problem = "dead hold: " + v.why;
    } else {
      continue;
    }
    std::string action;
    if (repair && dir.unlink(h.file)) action = "removed";
    report.findings.push_back({dir.path_of(h.file), problem, action});
  }
  for (const auto& [ts, name] : companions) {
    auto it = builds.find(ts);
    if (it != builds.end() && it->second.has(Artifact::kSif)) continue;
    std::string action;
    if (repair && dir.unlink(name)) action = "removed";
    report.findings.push_back({dir.path_of(name),
                               "orphan: no image " + artifact_name(layer, ts, Artifact::kSif),
                               action});
  }
  for (const auto& [ts, f] : builds) {
    if (f.has(Artifact::kSif)) {
      ++report.builds;
      std::string sif = dir.path_of(artifact_name(layer, ts, Artifact::kSif));
      if (!f.sif_regular) report.findings.push_back({sif, "image is not a regular file", ""});
      if (!f.has(Artifact::kLock)) report.findings.push_back({sif, "build has no lock file", ""});
      if (!f.has(Artifact::kDef)) report.findings.push_back({sif, "build has no locked def", ""});
      if (f.has(Artifact::kLock) && f.has(Artifact::kDef) && f.sif_regular)
        check_digests(dir, layer, ts, options.hash_images, report);
      continue;
    }
    if (live.count(ts)) continue;  // a build in progress
    // A build log alone is what a failed build keeps for its user.
    const bool failed_log = f.mask == 1u << static_cast<unsigned>(Artifact::kBuildLog);
    for (Artifact a : kAllArtifacts) {
      if (!f.has(a)) continue;
      std::string name = artifact_name(layer, ts, a);
      std::string action;
      if (repair && dir.unlink(name)) action = "removed";
      std::string image = artifact_name(layer, ts, Artifact::kSif);
      if (failed_log)
        report.findings.push_back({dir.path_of(name),
                                   "orphan: the log of a failed build (no image " + image +
                                       "), kept for reading; fsck --repair removes it",
                                   action, true});
      else
        report.findings.push_back({dir.path_of(name), "orphan: no image " + image, action});
    }
  }
  (void)store;
}

// The latest pointer `<layer>.sif`. Returns the <ts> it names once it names
// a build of the layer (after a repair, the build it was pointed at), else
// nullopt.
std::optional<std::string> check_pointer(const Store& store, const std::string& layer, bool repair,
                                         FsckReport& report) {
  const Dir& root = store.root_dir();
  std::string name = pointer_name(layer);
  auto target = root.read_link(name);
  if (!target) return std::nullopt;
  auto ts = ts_from_pointer_target(layer, *target);
  std::string problem;
  std::optional<Dir> dir;
  try {
    dir = store.layer_dir(layer);
  } catch (const Error&) {
    dir.reset();
  }
  if (!ts || *target != pointer_target(layer, *ts)) {
    problem = "pointer names " + *target + ", not a build of layer '" + layer + "' in this store";
  } else if (!dir || dir->type_of(artifact_name(layer, *ts, Artifact::kSif)) != S_IFREG) {
    problem = "dangling pointer: " + *target + " does not exist";
  } else {
    return ts;
  }
  std::string action;
  std::optional<std::string> newest;
  if (repair) {
    if (dir) {
      LayerLock lock(*dir);
      for (const auto& b : store.list(layer)) {
        if (b.lock && b.def &&
            dir->type_of(artifact_name(layer, b.ts, Artifact::kSif)) == S_IFREG) {
          newest = b.ts;
          break;
        }
      }
      if (newest) {
        store.move_pointers(layer, *newest);
        action = "pointed at " + pointer_target(layer, *newest);
      }
    }
    if (!newest) {
      root.unlink(name);
      action = "removed";
    }
  }
  report.findings.push_back({root.path_of(name), problem, action});
  return newest;
}

// The stable pointers `<layer>.lock` and `<layer>.def` beside the latest
// pointer: each must name the companion of the build `<layer>.sif` names
// (active_ts), or not exist when there is no latest pointer. --repair
// realigns them with `<layer>.sif` (it is the one users and the reference
// tool move), or removes them, and adds them where they are missing beside
// `<layer>.sif` (not a finding without --repair). A regular file or
// directory of that name is reported, never touched.
void check_companion_pointers(const Store& store, const std::string& layer,
                              const std::optional<std::string>& active_ts, bool repair,
                              FsckReport& report) {
  const Dir& root = store.root_dir();
  for (Artifact a : kPointerArtifacts) {
    if (a == Artifact::kSif) continue;
    std::string name = pointer_name(layer, a);
    auto type = root.type_of(name);
    auto target = root.read_link(name);
    if (type && !target) {
      report.findings.push_back({root.path_of(name),
                                 "not a symlink where the stable pointer of layer '" + layer +
                                     "' belongs; SifStore leaves it alone",
                                 ""});
      continue;
    }
    std::string problem, action;
    if (!active_ts) {
      if (!target) continue;
      problem = "stable pointer names " + *target + " but layer '" + layer +
                "' has no latest pointer " + pointer_name(layer);
      if (repair && root.unlink(name)) action = "removed";
    } else {
      std::string want = pointer_target(layer, *active_ts, a);
      if (target == want) continue;
      // Missing beside `.sif` (a store of the reference tool or of an older
      // SifStore) is no fault: nothing names a wrong file. --repair adds it.
      if (!target && !repair) continue;
      problem = target ? "stable pointer names " + *target + ", but " + pointer_name(layer) +
                             " names " + pointer_target(layer, *active_ts)
                       : "missing stable pointer (" + pointer_name(layer) + " names " +
                             pointer_target(layer, *active_ts) + ")";
      if (repair) {
        auto dir = store.layer_dir(layer);
        if (dir) {
          LayerLock lock(*dir);
          // Under the lock: realign with what `.sif` names now.
          auto ts = store.active_ts(layer);
          if (ts) {
            store.move_pointers(layer, *ts);
            action = "pointed at " + pointer_target(layer, *ts, a);
          }
        }
      }
    }
    report.findings.push_back({root.path_of(name), problem, action});
  }
}

}  // namespace

size_t FsckReport::unrepaired() const {
  size_t n = 0;
  for (const auto& f : findings)
    if (f.action.empty() && !f.note) ++n;
  return n;
}

FsckReport fsck(const Store& store, const FsckOptions& options) {
  const bool repair = options.repair;
  FsckReport report;
  const Dir& root = store.root_dir();
  std::set<std::string> pointers;  // layers with any stable pointer
  for (const auto& e : root.scan()) {
    // `<layer>.lock` and `<layer>.def` symlinks are stable pointers, not
    // symlinked layer directories.
    bool companion = false;
    for (Artifact a : kPointerArtifacts) {
      std::string_view suffix = artifact_suffix(a);
      if (a != Artifact::kSif && e.type == DT_LNK && e.name.size() > suffix.size() &&
          e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        std::string layer = e.name.substr(0, e.name.size() - suffix.size());
        if (is_valid_layer_name(layer)) {
          pointers.insert(layer);
          companion = true;
        }
      }
    }
    if (companion) continue;
    if (e.name.size() > 4 && e.name.compare(e.name.size() - 4, 4, ".sif") == 0) {
      std::string layer = e.name.substr(0, e.name.size() - 4);
      if (is_valid_layer_name(layer)) {
        if (e.type == DT_LNK) {
          pointers.insert(layer);
        } else if (e.type == DT_REG) {
          report.findings.push_back(
              {root.path_of(e.name), "a regular file where a latest pointer belongs", ""});
        }
      }
      continue;
    }
    if (!is_valid_layer_name(e.name)) continue;
    if (e.type == DT_LNK) {
      report.findings.push_back(
          {root.path_of(e.name), "layer directory is a symlink; SifStore never follows it", ""});
      continue;
    }
    if (e.type != DT_DIR && e.type != DT_UNKNOWN) continue;
    std::optional<Dir> dir;
    try {
      dir = root.subdir(e.name);
    } catch (const Error& err) {
      report.findings.push_back({root.path_of(e.name), err.what(), ""});
      continue;
    }
    if (!dir) continue;
    ++report.layers;
    check_layer_dir(store, *dir, e.name, options, report);
  }
  for (const auto& layer : pointers) {
    bool has_latest = root.read_link(pointer_name(layer)).has_value();
    auto active = check_pointer(store, layer, repair, report);
    if (has_latest && !active && !repair) continue;  // the latest pointer's finding says it
    check_companion_pointers(store, layer, active, repair, report);
  }
  return report;
}

}  // namespace sifstore
