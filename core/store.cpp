#include "core/store.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>

#include "core/config.h"
#include "core/deffile.h"
#include "core/error.h"
#include "core/holds.h"
#include "core/layer_lock.h"
#include "core/process.h"
#include "core/text.h"

namespace sifstore {
namespace {

// The artifacts present for each `<ts>` of a layer, from one scan.
struct ScannedBuild {
  std::array<char, 16> ts_chars;
  unsigned mask = 0;       // bit per Artifact: present, as the reference's Path.exists() sees it
  unsigned removable = 0;  // bit per Artifact: a file or symlink that prune unlinks
  std::string_view ts() const { return {ts_chars.data(), ts_chars.size()}; }
  bool has(Artifact a) const { return mask & (1u << static_cast<unsigned>(a)); }
};

// The readdir type of an entry; DT_UNKNOWN (filesystems that do not say) is
// resolved with one lstat.
unsigned char entry_type(const Dir& dir, const std::string& name, unsigned char type) {
  if (type != DT_UNKNOWN) return type;
  auto t = dir.type_of(name);
  if (!t) return DT_UNKNOWN;  // gone meanwhile
  if (*t == S_IFREG) return DT_REG;
  if (*t == S_IFLNK) return DT_LNK;
  if (*t == S_IFDIR) return DT_DIR;
  return DT_UNKNOWN;  // a FIFO, socket or device
}

// A <ts> as the number its 14 digits spell: builds sort and group by
// comparing integers instead of strings, and the number gives the <ts> back.
// Only for names that passed has_ts_shape (ASCII digits).
uint64_t ts_key(std::string_view ts) {
  uint64_t key = 0;
  for (size_t i = 0; i < ts.size(); ++i)
    if (i != 4 && i != 9) key = key * 10 + static_cast<unsigned>(ts[i] - '0');
  return key;
}

std::array<char, 16> ts_of_key(uint64_t key) {
  std::array<char, 16> ts;
  for (size_t i = 16; i-- > 0;) {
    if (i == 4 || i == 9) {
      ts[i] = '-';
      continue;
    }
    ts[i] = static_cast<char>('0' + key % 10);
    key /= 10;
  }
  return ts;
}

// parse_artifact_name without allocating: the <ts> and the artifact of a
// file name "<layer>-<ts><suffix>". A layer of 10,000 builds has 30,000
// files, and a <ts> (16 characters) does not fit a short-string buffer.
bool parse_entry(std::string_view layer, std::string_view name, std::string_view& ts,
                 Artifact& artifact) {
  if (name.size() < layer.size() + 1 + 16 + 4 || name.compare(0, layer.size(), layer) != 0 ||
      name[layer.size()] != '-')
    return false;
  ts = name.substr(layer.size() + 1, 16);
  if (!has_ts_shape(ts)) return false;
  std::string_view suffix = name.substr(layer.size() + 17);
  for (Artifact a : kAllArtifacts) {
    if (suffix == artifact_suffix(a)) {
      artifact = a;
      return true;
    }
  }
  return false;
}

// One artifact file seen by the scan, packed in one integer so that the
// 30,000 of a layer of 10,000 builds sort fast: its ts_key (below 10^14,
// 47 bits) above the artifact (3 bits), whether it is present and whether
// prune may unlink it.
using ScannedFile = uint64_t;
constexpr unsigned kFileBits = 5;
static_assert(kAllArtifacts.size() <= 8, "an artifact takes 3 bits of a ScannedFile");

ScannedFile pack_file(uint64_t ts_key, Artifact a, bool present, bool removable) {
  return ts_key << kFileBits | static_cast<uint64_t>(a) << 2 | uint64_t{present} << 1 |
         uint64_t{removable};
}

// Builds of a layer (those with an image), newest first.
//
// As the reference, which globs names and asks Path.exists(): an image is a
// regular file or a symlink (even a dangling one; a directory is no image);
// a companion (lock, def, marker) counts when it exists after following
// symlinks, so a dangling symlink is no lock and no marker. Prune unlinks
// files and symlinks, never a directory (the reference leaves those too).
// Only symlinks cost a stat; plain files are taken from the scan alone. The
// files are grouped by sorting them on <ts>, newest first.
std::vector<ScannedBuild> scan_layer(const Dir& dir, std::string_view layer) {
  std::vector<ScannedFile> files;
  std::string name;
  dir.scan([&](std::string_view entry, unsigned char type) {
    std::string_view ts;
    Artifact artifact;
    if (!parse_entry(layer, entry, ts, artifact)) return;
    if (type == DT_UNKNOWN || type == DT_LNK) {
      name.assign(entry);
      type = entry_type(dir, name, type);
    }
    bool file_or_link = type == DT_REG || type == DT_LNK;
    bool present;
    if (artifact == Artifact::kSif) {
      present = file_or_link;
    } else if (type == DT_LNK) {
      present = dir.resolves(name);
    } else {
      present = type != DT_UNKNOWN || dir.exists(name);
    }
    if (!present && !file_or_link) return;
    files.push_back(pack_file(ts_key(ts), artifact, present, file_or_link));
  });
  std::sort(files.begin(), files.end(), std::greater<ScannedFile>());
  std::vector<ScannedBuild> out;
  out.reserve(files.size() / 3 + 1);
  for (size_t i = 0; i < files.size();) {
    ScannedBuild b{};
    const uint64_t key = files[i] >> kFileBits;
    size_t j = i;
    for (; j < files.size() && files[j] >> kFileBits == key; ++j) {
      unsigned bit = 1u << ((files[j] >> 2) & 7u);
      if (files[j] & 2u) b.mask |= bit;
      if (files[j] & 1u) b.removable |= bit;
    }
    if (b.has(Artifact::kSif)) {
      b.ts_chars = ts_of_key(key);
      out.push_back(b);
    }
    i = j;
  }
  return out;
}

// SifStore's hidden companions of a pruned build (names.h), after its
// image: a name that is not a file is left, as for the artifacts.
void unlink_hidden_companions(const Dir& dir, std::string_view layer, std::string_view ts) {
  for (std::string_view suffix : kHiddenCompanionSuffixes) {
    try {
      dir.unlink(hidden_name(layer, ts, suffix));
    } catch (const Error&) {
    }
  }
}

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()) %
            std::chrono::seconds(1);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06ld", static_cast<long>(us.count()));
  return std::string(buf) + frac;
}

// The `<ts>` of each build of `base_layer` that a def's `Bootstrap:
// localimage` stages start from (every stage, not only the final one), read
// through the one def parser. A def that does not parse pins nothing it can
// show.
std::vector<std::string> from_ts_in_def(const std::string& def_text, const std::string& def_path,
                                        std::string_view base_layer) {
  std::vector<std::string> out;
  DefFile def;
  try {
    def = parse_def(def_text, def_path);
  } catch (const Error&) {
    return out;
  }
  for (const DefStage* st : def.local_image_stages())
    if (auto ts = ts_from_pointer_target(base_layer, st->from())) out.push_back(*ts);
  return out;
}

// The root spelled as the reference's pathlib.Path spells it, so that paths
// handed out match its paths: no empty or "." components, no trailing '/'
// ("./containers/" -> "containers", "/a//b/." -> "/a/b"; "//" stays at the
// start, as POSIX allows; ".." is kept).
std::string pathlib_form(const std::string& path) {
  size_t lead = 0;
  while (lead < path.size() && path[lead] == '/') ++lead;
  std::string out = lead == 2 ? "//" : lead > 0 ? "/" : "";
  const size_t prefix = out.size();
  size_t pos = lead;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + pos, end - pos);
    if (!part.empty() && part != ".") {
      if (out.size() > prefix) out += '/';
      out += part;
    }
    pos = end + 1;
  }
  return out.empty() ? "." : out;
}

}  // namespace

Store Store::open(const std::string& root) {
  auto dir = Dir::open_if_exists(pathlib_form(root));
  if (!dir)
    throw Error("store not found: " + root +
                " (set --root or SIFSTORE_ROOT, or build a layer to create it)");
  return Store(std::move(*dir));
}

Store Store::open_or_create(const std::string& root) {
  return Store(Dir::open_or_create(pathlib_form(root)));
}

Store::Store(Dir root) : root_(std::move(root)), config_(load_config(root_)) {
  // Everything made in the store from here on is shared as config.yaml asks.
  root_.set_shared(config_.shared);
}

ArtifactPaths Store::paths(std::string_view layer, std::string_view ts) const {
  ArtifactPaths p;
  p.layer_dir = root_.path_of(layer);
  auto in_layer = [&](Artifact a) { return p.layer_dir + "/" + artifact_name(layer, ts, a); };
  p.sif = in_layer(Artifact::kSif);
  p.lock = in_layer(Artifact::kLock);
  p.def = in_layer(Artifact::kDef);
  p.verified = in_layer(Artifact::kVerified);
  p.unverified = in_layer(Artifact::kUnverified);
  p.keep = in_layer(Artifact::kKeep);
  p.build_log = in_layer(Artifact::kBuildLog);
  p.pointer = root_.path_of(pointer_name(layer));
  return p;
}

std::optional<Dir> Store::layer_dir(std::string_view layer) const {
  check_layer_name(layer);
  return root_.subdir(std::string(layer));
}

Dir Store::layer_dir_or_create(std::string_view layer) const {
  check_layer_name(layer);
  return root_.subdir_or_create(std::string(layer));
}

std::optional<std::string> Store::active_ts(std::string_view layer) const {
  check_layer_name(layer);
  auto target = root_.read_link(pointer_name(layer));
  if (!target) return std::nullopt;
  return ts_from_pointer_target(layer, *target);
}

std::string BuildListing::path(const BuildEntry& b, Artifact a) const {
  std::string_view ts = b.ts(), suffix = artifact_suffix(a);
  std::string p;
  p.reserve(file_prefix.size() + ts.size() + suffix.size());
  p.append(file_prefix).append(ts).append(suffix);
  return p;
}

BuildListing Store::list_entries(std::string_view layer) const {
  BuildListing out;
  auto dir = layer_dir(layer);
  if (!dir) return out;
  auto active = active_ts(layer);
  auto scanned = scan_layer(*dir, layer);
  out.file_prefix.append(dir->path()).append("/").append(layer).append("-");
  out.builds.reserve(scanned.size());
  for (const auto& s : scanned) {
    BuildEntry b;
    b.ts_chars = s.ts_chars;
    b.artifacts = s.mask;
    b.active = active && *active == s.ts();
    out.builds.push_back(b);
  }
  return out;
}

std::vector<Build> Store::list(std::string_view layer) const {
  BuildListing listing = list_entries(layer);
  std::vector<Build> out;
  out.reserve(listing.builds.size());
  for (const auto& e : listing.builds) {
    Build b;
    b.ts = e.ts();
    b.sif = listing.path(e, Artifact::kSif);
    if (e.has(Artifact::kLock)) b.lock = listing.path(e, Artifact::kLock);
    if (e.has(Artifact::kDef)) b.def = listing.path(e, Artifact::kDef);
    b.verified = e.verified();
    b.keep = e.has(Artifact::kKeep);
    b.active = e.active;
    b.has_build_log = e.has(Artifact::kBuildLog);
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<LayerInfo> Store::layers() const {
  std::map<std::string, LayerInfo> found;
  for (const auto& e : root_.scan()) {
    if (e.type == DT_DIR || e.type == DT_UNKNOWN) {
      if (!is_valid_layer_name(e.name)) continue;
      std::optional<Dir> dir;
      try {
        dir = root_.subdir(e.name);
      } catch (const Error&) {
        continue;  // a symlinked or odd entry is not a layer of this store
      }
      if (!dir) continue;
      size_t n = scan_layer(*dir, e.name).size();
      if (n > 0) found[e.name].builds = n;
    } else if (e.type == DT_LNK && e.name.size() > 4 &&
               e.name.compare(e.name.size() - 4, 4, ".sif") == 0) {
      std::string layer = e.name.substr(0, e.name.size() - 4);
      if (is_valid_layer_name(layer)) found[layer];
    }
  }
  std::vector<LayerInfo> out;
  for (auto& [name, info] : found) {
    info.name = name;
    info.active_ts = active_ts(name);
    out.push_back(std::move(info));
  }
  return out;
}

Dir Store::existing_build(std::string_view layer, std::string_view ts) const {
  check_ts(ts);
  auto dir = layer_dir(layer);
  std::string sif = artifact_name(layer, ts, Artifact::kSif);
  if (!dir) throw Error("layer '" + std::string(layer) + "' not found in store " + root());
  auto type = dir->type_of(sif);
  if (!type) throw Error("build not found: " + dir->path_of(sif));
  if (*type != S_IFREG) throw Error(dir->path_of(sif) + " is not a regular file");
  return std::move(*dir);
}

void Store::move_pointers(std::string_view layer, std::string_view ts) const {
  // The interrupts a terminal, ninja or a dropped session send are held
  // back until the three renames are done (or one failed).
  sigset_t held, previous;
  sigemptyset(&held);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&held, sig);
  pthread_sigmask(SIG_BLOCK, &held, &previous);
  struct Restore {
    sigset_t mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};
  // A move that fails (disk full) puts back the pointers it had moved, so a
  // failed command leaves the three as they were.
  std::vector<std::pair<std::string, std::optional<std::string>>> moved;
  try {
    for (Artifact a : kPointerArtifacts) {
      if (a == Artifact::kSif) debug_stop_point("pointing");
      std::string name = pointer_name(layer, a);
      // Put back also when the rename went through and a sync after it failed.
      moved.emplace_back(name, root_.read_link(name));
      root_.symlink_atomic(name, pointer_target(layer, ts, a));
    }
  } catch (...) {
    for (const auto& [name, previous_target] : moved) {
      try {
        if (previous_target)
          root_.symlink_atomic(name, *previous_target);
        else
          root_.unlink(name);
      } catch (...) {
        // fsck --repair realigns what is left with `<layer>.sif`.
      }
    }
    throw;
  }
}

void Store::point_latest(std::string_view layer, std::string_view ts) const {
  Dir dir = existing_build(layer, ts);
  LayerLock lock(dir);
  existing_build(layer, ts);  // still there under the lock
  move_pointers(layer, ts);
}

std::string Store::rollback(std::string_view layer, std::optional<std::string_view> to) const {
  if (to) {
    point_latest(layer, *to);
    return std::string(*to);
  }
  auto dir = layer_dir(layer);
  if (!dir) throw Error("layer '" + std::string(layer) + "' not found in store " + root());
  LayerLock lock(*dir);
  auto builds = scan_layer(*dir, layer);
  auto active = active_ts(layer);
  if (!active)
    throw Error("layer '" + std::string(layer) +
                "' has no latest pointer to roll back from; use point-latest");
  for (const auto& b : builds) {
    if (b.ts() < *active) {
      move_pointers(layer, b.ts());
      return std::string(b.ts());
    }
  }
  throw Error("layer '" + std::string(layer) + "' has no build older than " + *active);
}

std::vector<std::string> Store::pinned_by_other_layers(std::string_view layer) const {
  std::vector<std::string> pinned;
  for (const auto& e : root_.scan()) {
    if (e.type != DT_DIR && e.type != DT_UNKNOWN) continue;
    if (e.name == layer || !is_valid_layer_name(e.name)) continue;
    std::optional<Dir> other;
    try {
      other = root_.subdir(e.name);
    } catch (const Error&) {
      continue;
    }
    if (!other) continue;
    auto pin_from = [&](const std::string& def_name) {
      std::optional<std::string> text;
      try {
        text = other->read_file(def_name, 4u << 20);
      } catch (const Error&) {
        return;  // an unreadable def pins nothing it can show
      }
      if (!text) return;
      for (auto& ts : from_ts_in_def(*text, other->path_of(def_name), layer))
        pinned.push_back(std::move(ts));
    };
    // One scan of the other layer: the locked def of each of its builds (an
    // image beside it) and the def each of its builds in progress handed its
    // builder (`.<layer>-<ts>.build.def`) name the bases they are built FROM.
    std::set<std::string, std::less<>> images;
    std::vector<std::pair<std::string, std::string>> defs;  // (<ts>, file name)
    const std::string hidden_prefix = "." + e.name + "-";
    for (const auto& h : other->scan()) {
      std::string_view ts;
      Artifact artifact;
      if (parse_entry(e.name, h.name, ts, artifact)) {
        // An image as scan_layer counts one: a file or a symlink.
        unsigned char type = artifact == Artifact::kSif ? entry_type(*other, h.name, h.type) : 0;
        if (type == DT_REG || type == DT_LNK) images.emplace(ts);
        if (artifact == Artifact::kDef) defs.emplace_back(ts, h.name);
      } else if (h.name.size() > hidden_prefix.size() + kBuildDefSuffix.size() &&
                 h.name.compare(0, hidden_prefix.size(), hidden_prefix) == 0 &&
                 h.name.compare(h.name.size() - kBuildDefSuffix.size(), kBuildDefSuffix.size(),
                                kBuildDefSuffix) == 0) {
        pin_from(h.name);
      }
    }
    for (const auto& [ts, name] : defs)
      if (images.count(ts)) pin_from(name);
  }
  return pinned;
}

PruneResult Store::prune(std::string_view layer, int retain, bool dry_run) const {
  if (retain < 0) throw Error("retain must be 0 or more, got " + std::to_string(retain));
  PruneResult result;
  auto dir = layer_dir(layer);
  if (!dir) return result;
  std::optional<LayerLock> lock;
  if (!dry_run) lock.emplace(*dir);
  auto builds = scan_layer(*dir, layer);
  auto active = active_ts(layer);
  auto pinned = pinned_by_other_layers(layer);
  HeldBuilds held = held_builds(*dir, layer);  // a job's hold keeps its build
  int kept = 0;
  for (const auto& b : builds) {
    std::string ts(b.ts());
    bool protected_build = (active && ts == *active) || b.has(Artifact::kKeep) ||
                           std::find(pinned.begin(), pinned.end(), ts) != pinned.end() ||
                           std::find(held.kept.begin(), held.kept.end(), ts) != held.kept.end();
    if (protected_build || kept < retain) {
      if (!protected_build) ++kept;
      result.kept.push_back(ts);
      continue;
    }
    if (!dry_run) {
      for (Artifact a : kAllArtifacts) {
        if (b.removable & (1u << static_cast<unsigned>(a)))
          dir->unlink(artifact_name(layer, ts, a));
      }
      unlink_hidden_companions(*dir, layer, ts);
      for (const auto& hold : held.files[ts]) dir->unlink(hold);  // dead holds of the build
    }
    result.pruned.push_back(std::move(ts));
  }
  return result;
}

void Store::mark_verified(std::string_view layer, std::string_view ts) const {
  Dir dir = existing_build(layer, ts);
  LayerLock lock(dir);
  existing_build(layer, ts);  // still there under the lock (not pruned meanwhile)
  dir.write_file_atomic(artifact_name(layer, ts, Artifact::kVerified),
                        "round-trip verified at " + now_iso() + "\n");
  dir.unlink(artifact_name(layer, ts, Artifact::kUnverified));
}

void Store::mark_unverified(std::string_view layer, std::string_view ts,
                            std::string_view reason) const {
  Dir dir = existing_build(layer, ts);
  LayerLock lock(dir);
  existing_build(layer, ts);  // still there under the lock (not pruned meanwhile)
  std::string body = "reproducibility unverified at " + now_iso() + "\n";
  std::string_view r = reason;
  while (!r.empty() && r.back() == '\n') r.remove_suffix(1);
  if (!r.empty()) body.append(r).append("\n");
  dir.write_file_atomic(artifact_name(layer, ts, Artifact::kUnverified), body);
  dir.unlink(artifact_name(layer, ts, Artifact::kVerified));
}

void Store::protect(std::string_view layer, std::string_view ts) const {
  Dir dir = existing_build(layer, ts);
  LayerLock lock(dir);
  existing_build(layer, ts);  // still there under the lock (not pruned meanwhile)
  dir.write_file_atomic(artifact_name(layer, ts, Artifact::kKeep), "prune-protected\n");
}

bool Store::unprotect(std::string_view layer, std::string_view ts) const {
  Dir dir = existing_build(layer, ts);
  LayerLock lock(dir);
  existing_build(layer, ts);  // still there under the lock (not pruned meanwhile)
  return dir.unlink(artifact_name(layer, ts, Artifact::kKeep));
}

std::string Store::reserve(std::string_view layer, const Clock& clock,
                           ReservationHolder holder) const {
  Dir dir = layer_dir_or_create(layer);
  return reserve_ts(root_, dir, layer, clock, holder);
}

}  // namespace sifstore
