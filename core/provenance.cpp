#include "core/provenance.h"

#include <pwd.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/process.h"
#include "core/sbom.h"
#include "core/sha256.h"
#include "core/sif_writer.h"
#include "core/squashfs.h"
#include "core/text.h"

namespace sifstore {
namespace {

std::string fact(const PackageLock& lock, const std::string& key) {
  auto it = lock.facts.find(key);
  return it == lock.facts.end() ? "" : it->second;
}

}  // namespace

PackageLock embedded_lock(const PackageLock& lock) {
  PackageLock l = lock;
  l.facts.erase("image-sha256");
  return l;
}

std::string provenance_json(const std::string& layer, const std::string& ts,
                            const PackageLock& lock) {
  nlohmann::ordered_json j;
  auto opt = [&](const std::string& key) {
    std::string v = fact(lock, key);
    return v.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
  };
  j["sifstore-provenance"] = 1;
  j["layer"] = layer;
  j["ts"] = ts;
  j["def-path"] = opt("def-path");
  j["def-sha256"] = opt("def-sha256");
  j["locked-def-sha256"] = opt("locked-def-sha256");
  j["base"] = nullptr;
  if (!fact(lock, "base-image").empty()) {
    j["base"]["image"] = fact(lock, "base-image");
    j["base"]["tag"] = opt("base-tag");
  }
  j["builder"] = opt("builder");
  j["builder-version"] = opt("builder-version");
  j["sifstore-version"] = SIFSTORE_VERSION;
  j["capture-method"] = opt("captured-by");
  j["built-by"] = opt("built-by");
  j["build-started"] = opt("build-started");
  j["build-seconds"] = opt("build-seconds");
  j["builder-image-sha256"] = opt("image-sha256");
  return j.dump(2) + "\n";
}

uint64_t embed_provenance(const Dir& dir, const std::string& sif_name, const std::string& layer,
                          const std::string& ts, const PackageLock& lock, int64_t now,
                          SifWrite how) {
  SbomSubject subject;
  subject.name = layer;
  subject.version = ts;
  subject.lock = lock;
  subject.timestamp = iso8601_utc(now);
  uint32_t group = 0;
  {
    SifImage image = SifImage::open(dir.path_of(sif_name));
    subject.arch = image.primary_partition().arch;
    group = image.primary_partition().group_id;
    read_os_release(SquashfsImage::open_primary(image), subject);
  }
  // In the primary partition's object group (group 1 in Apptainer's
  // images), so that `apptainer sign`, which signs per group, covers them;
  // in no group when the partition is in none (docs/DESIGN.md#provenance).
  std::vector<SifNewObject> objects = {
      {kSifSbom, kSbomObjectName, cyclonedx_json(subject), kSifSbomCycloneDxJson, group},
      {kSifGenericJson, kProvenanceObjectName, provenance_json(layer, ts, lock), 0, group},
      {kSifGeneric, kLockObjectName, format_lock(embedded_lock(lock)), 0, group}};
  add_sif_objects(dir, sif_name, objects, now, how);
  uint64_t bytes = 0;
  for (const auto& o : objects) bytes += o.data.size() + kSifDescriptorSize * 0;
  return bytes;
}

uint64_t seal_build(const Dir& dir, const std::string& sif_name, const std::string& layer,
                    const std::string& ts, PackageLock& lock, int64_t started) {
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  lock.facts["built-by"] = current_user_at_host();
  lock.facts["build-started"] = iso8601_utc(started);
  lock.facts["build-seconds"] = std::to_string(now - started);
  // What the header says once sealed: `check` needs it to tell an image
  // signed after the build from a changed one (core/sif_signatures.h).
  lock.facts["sif-modified-at"] = std::to_string(now);
  uint64_t bytes = embed_provenance(dir, sif_name, layer, ts, lock, now, SifWrite::kInPlace);
  lock.facts["image-sha256"] = sha256_file(dir.path_of(sif_name));
  return bytes;
}

void sign_sealed_image(const std::vector<std::string>& builder, std::optional<int> keyidx,
                       const Dir& dir, const std::string& sif_name, int log_fd, int echo_fd,
                       PackageLock& lock) {
  std::vector<std::string> argv = builder;
  argv.push_back("sign");
  if (keyidx) {
    argv.push_back("--keyidx");
    argv.push_back(std::to_string(*keyidx));
  }
  std::string path = std::filesystem::absolute(dir.path_of(sif_name)).lexically_normal();
  argv.push_back(path);
  StreamedRun run = run_streamed(argv, std::filesystem::path(path).parent_path(), log_fd, echo_fd);
  if (run.interrupted)
    throw Error("signing " + path + " interrupted (" + run.status.describe() + ")");
  if (!run.status.ok())
    throw Error("signing the new image failed: " + builder[0] + " sign " + run.status.describe() +
                " (nothing was published)");
  // The image as published: its digest, its header's time and the
  // signature objects it holds, from which `check` tells a signature
  // added later (core/sif_signatures.h).
  SifImage signed_image = SifImage::open(path);
  std::vector<std::string> ids;
  for (const auto& d : signed_image.descriptors())
    if (d.data_type == kSifSignature) ids.push_back(std::to_string(d.id));
  if (ids.empty())
    throw Error("signing the new image failed: " + builder[0] +
                " sign added no signature object to " + path + " (nothing was published)");
  lock.facts["image-sha256"] = sha256_file(path);
  lock.facts["sif-modified-at"] = std::to_string(signed_image.header().modified_at);
  lock.facts["signed-at-build"] = join(ids, " ");
}

EmbeddedProvenance read_embedded_provenance(const SifImage& image) {
  EmbeddedProvenance e;
  for (const auto& d : image.descriptors()) {
    if (d.data_type == kSifSbom && d.name == kSbomObjectName && !e.sbom)
      e.sbom = image.read_object(d);
    else if (d.data_type == kSifGenericJson && d.name == kProvenanceObjectName && !e.provenance)
      e.provenance = image.read_object(d);
    else if (d.data_type == kSifGeneric && d.name == kLockObjectName && !e.lock)
      e.lock = image.read_object(d);
  }
  return e;
}

std::string current_user_at_host() {
  std::string user;
  if (struct passwd* pw = ::getpwuid(::geteuid())) user = pw->pw_name;
  if (user.empty()) user = "uid " + std::to_string(::geteuid());
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return user + "@" + (host[0] ? host : "unknown");
}

}  // namespace sifstore
