// `sifstore sbom (LAYER [TS] | SIF) [--format cyclonedx|spdx] [-o FILE]`:
// the software bill of materials of a build or of any SIF image
// (core/sbom.h). CycloneDX is the SBOM embedded in the image when it has
// one (exactly its bytes); otherwise, and for SPDX, it is generated from
// the lock embedded in the image, else the build's lock in the store, else
// a static capture of the image.
#include <sys/stat.h>

#include <ostream>

#include "core/capture.h"
#include "core/error.h"
#include "core/names.h"
#include "core/provenance.h"
#include "core/sbom.h"
#include "core/sif.h"
#include "core/squashfs.h"
#include "core/store.h"
#include "core/text.h"
#include "core/user_file.h"
#include "tool/command.h"

namespace sifstore::tool {
namespace {

// What the SBOM is of: an image, and for a build its layer, ts and lock.
struct Target {
  std::string sif;
  std::string name, version;
  std::optional<std::string> store_lock;
};

bool names_an_image(const std::string& word) {
  struct stat st;
  return ends_with(word, ".sif") || word.find('/') != std::string::npos ||
         (::stat(word.c_str(), &st) == 0 && S_ISREG(st.st_mode));
}

Target resolve(Context& ctx, const std::string& what, const std::optional<std::string>& ts_arg) {
  Target t;
  if (names_an_image(what)) {
    if (ts_arg) throw UsageError("sbom: a TS goes with a LAYER, not with an image (" + what + ")");
    t.sif = what;
    std::string file = what.substr(what.rfind('/') + 1);
    t.name = ends_with(file, ".sif") ? file.substr(0, file.size() - 4) : file;
    return t;
  }
  check_layer_name(what);
  Store store = Store::open(ctx.root);
  std::string ts;
  if (ts_arg) {
    check_ts(*ts_arg);
    ts = *ts_arg;
  } else {
    auto active = store.active_ts(what);
    if (!active) throw Error("layer '" + what + "' has no active build in " + ctx.root);
    ts = *active;
  }
  auto dir = store.layer_dir(what);
  if (!dir || dir->type_of(artifact_name(what, ts, Artifact::kSif)) != S_IFREG)
    throw Error("build not found: " + store.paths(what, ts).sif);
  t.sif = store.paths(what, ts).sif;
  t.name = what;
  t.version = ts;
  t.store_lock = dir->read_file(artifact_name(what, ts, Artifact::kLock));
  return t;
}

const Command kSbom{"sbom", "sbom (LAYER [TS] | SIF) [--format cyclonedx|spdx] [-o FILE]",
                    "the SBOM of a build or an image (CycloneDX 1.5 or SPDX 2.3 JSON)", nullptr};

int cmd_sbom(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("format", po::value<std::string>()->default_value("cyclonedx"),
                  "cyclonedx (CycloneDX 1.5 JSON) or spdx (SPDX 2.3 JSON)")(
      "output,o", po::value<std::string>(), "write to FILE ('-': standard output, the default)");
  auto vm = parse_options(ctx, find_command("sbom"), d, {"WHAT", "TS?"}, args);
  if (!vm) return 0;
  std::string format = (*vm)["format"].as<std::string>();
  if (format != "cyclonedx" && format != "spdx")
    throw UsageError("sbom: --format must be cyclonedx or spdx, not '" + format + "'");
  std::optional<std::string> ts;
  if (vm->count("TS")) ts = (*vm)["TS"].as<std::string>();
  Target t = resolve(ctx, (*vm)["WHAT"].as<std::string>(), ts);

  SifImage image = SifImage::open(t.sif);
  EmbeddedProvenance embedded = read_embedded_provenance(image);
  std::string text, source;
  if (format == "cyclonedx" && embedded.sbom) {
    text = *embedded.sbom;
    source = "embedded in the image";
  } else {
    SbomSubject s;
    s.name = t.name;
    s.version = t.version;
    SquashfsImage fs = SquashfsImage::open_primary(image);
    if (embedded.lock) {
      s.lock = parse_lock(*embedded.lock, t.sif + " (embedded lock)");
      source = "from the lock embedded in the image";
    } else if (t.store_lock) {
      s.lock = parse_lock(*t.store_lock, t.name + "-" + t.version + ".lock");
      source = "from the build's lock";
    } else {
      s.lock = capture_static(fs);
      source = "from a static capture of the image";
    }
    s.arch = image.primary_partition().arch;
    read_os_release(fs, s);
    int64_t when = image.header().modified_at;
    s.timestamp = iso8601_utc(when > 0 ? when : 0);
    text = format == "spdx" ? spdx_json(s) : cyclonedx_json(s);
  }
  std::string out = vm->count("output") ? (*vm)["output"].as<std::string>() : "-";
  if (out == "-") {
    ctx.out << text;
    return 0;
  }
  if (write_user_file(out, text, "SBOM output") != UserFileWritten::kStandardOutput)
    ctx.err << "sifstore: wrote " << out << " ("
            << (format == "spdx" ? "SPDX 2.3" : "CycloneDX 1.5") << ", " << source << ")\n";
  return 0;
}

const CommandRegistration kRegistration({kSbom.name, kSbom.synopsis, kSbom.summary, cmd_sbom});

}  // namespace
}  // namespace sifstore::tool
