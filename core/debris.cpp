#include "core/debris.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <ctime>
#include <set>

#include "core/chain.h"
#include "core/names.h"
#include "core/stamp.h"
#include "core/text.h"

namespace sifstore {
namespace {

bool older_than(const Dir& dir, const std::string& name, time_t seconds) {
  struct stat st;
  if (::fstatat(dir.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  return std::time(nullptr) - st.st_mtime > seconds;
}

}  // namespace

std::vector<Debris> find_debris(const Dir& layer_dir, std::string_view layer) {
  auto entries = layer_dir.scan();
  std::set<std::string> names;
  for (const auto& e : entries) names.insert(e.name);
  std::vector<Debris> out;
  const std::string hidden_prefix = "." + std::string(layer) + "-";
  for (const auto& e : entries) {
    const std::string& n = e.name;
    if (!starts_with(n, hidden_prefix)) continue;
    if (n.find(".tmp.") != std::string::npos) {
      if (older_than(layer_dir, n, 3600)) out.push_back({n, "stale temporary file", ""});
      continue;
    }
    auto reserved = parse_hidden_name(layer, n, kReservedSuffix);
    if (!reserved || reservation_is_live(layer_dir, n)) continue;
    const std::string& ts = *reserved;
    const std::string why = "left by a killed build of " + std::string(layer) + "-" + ts;
    for (const std::string& hidden :
         {partial_sif_name(layer, ts), build_def_name(layer, ts), verify_sif_name(layer, ts)}) {
      if (names.count(hidden)) out.push_back({hidden, why, ""});
    }
    bool published = names.count(artifact_name(layer, ts, Artifact::kSif)) > 0;
    if (!published) {
      for (Artifact a : {Artifact::kLock, Artifact::kDef, Artifact::kRoughDef}) {
        std::string visible = artifact_name(layer, ts, a);
        if (names.count(visible)) out.push_back({visible, why, ""});
      }
    }
    std::string log = partial_log_name(layer, ts);
    if (names.count(log)) {
      std::string final_log = artifact_name(layer, ts, Artifact::kBuildLog);
      out.push_back({log, why, names.count(final_log) ? "" : final_log});
    }
    out.push_back({n, "reservation of a killed build", ""});
  }
  return out;
}

void clear_debris(const Dir& layer_dir, const std::vector<Debris>& debris) {
  for (const auto& d : debris) {
    if (!d.keep_as.empty()) {
      layer_dir.rename(d.name, d.keep_as);
    } else {
      layer_dir.unlink(d.name);
    }
  }
}

}  // namespace sifstore
