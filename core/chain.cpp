#include "core/chain.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/builder_version.h"
#include "core/check.h"
#include "core/config.h"
#include "core/debris.h"
#include "core/deffile.h"
#include "core/error.h"
#include "core/image_identity.h"
#include "core/input_key.h"
#include "core/layer_lock.h"
#include "core/locked_def.h"
#include "core/names.h"
#include "core/process.h"
#include "core/provenance.h"
#include "core/registry/pin.h"
#include "core/registry/resolve.h"
#include "core/sha256.h"
#include "core/text.h"
#include "core/user_file.h"

namespace sifstore {
namespace {

namespace stdfs = std::filesystem;

std::string absolute(const std::string& path) { return stdfs::absolute(path).lexically_normal(); }

void append_line(int fd, const std::string& line) {
  std::string text = line + "\n";
  if (fd >= 0 && ::write(fd, text.data(), text.size()) < 0) {
    // A log line that cannot be written is not worth failing the build for.
  }
}

// Appends a line the log must hold (the lock's digest: tamper evidence), or
// throws naming the log, so that no build is published without it.
void append_record(int fd, const std::string& line, const std::string& log_path) {
  write_all(fd, line + "\n", "the build log " + log_path + " (nothing was published)");
  if (::fsync(fd) != 0)
    throw system_error("cannot sync the build log " + log_path + " (nothing was published)");
}

// The first line `<builder> --version` prints, or "unknown".
std::string builder_version(const std::vector<std::string>& builder) {
  std::vector<std::string> argv = builder;
  argv.push_back("--version");
  try {
    auto r = run_captured(argv, 1 << 20);
    if (!r.status.ok()) return "unknown";
    std::string line = r.out.substr(0, r.out.find('\n'));
    return line.empty() ? "unknown" : line;
  } catch (const Error&) {
    return "unknown";
  }
}

// A secret build argument is handed to the builder as its `build
// --build-arg`: refuses (naming the release) a builder that has none, before
// anything is built. Plain build arguments need nothing from the builder:
// SifStore renders them into the def it hands over.
void check_builder_takes_secrets(const std::vector<std::string>& builder,
                                 const std::map<std::string, std::string>& secrets) {
  if (secrets.empty()) return;
  std::string version = builder_version(builder);
  if (builder_has_build_args(version)) return;
  throw Error("secret build argument '" + secrets.begin()->first +
              "' is handed to the builder as its build --build-arg, which " + builder[0] + " (" +
              version +
              ") does not have (Apptainer 1.2 added it); nothing was built. Give the value with "
              "--build-arg instead (SifStore renders it into the def and the locked def), or use "
              "Apptainer 1.2 or later (--builder)");
}

// The exact image a build starts from: the active build of --from, or the
// `From:` of the def's base stage (DefFile::base_stage) with any symlink
// (such as a latest pointer) resolved. nullopt when no stage is a base.
struct Base {
  std::string exact;      // absolute path of the timestamped image
  std::string depend_on;  // what Ninja should watch: the pointer, or the path as given
};

// The exact image a `Bootstrap: localimage` stage's `From:` names, with any
// symlink (such as a latest pointer) resolved.
Base resolve_image(const DefFile& def, const DefStage& stage) {
  std::string from = stage.from();
  if (from.empty())
    throw Error(def.path + ":" + std::to_string(stage.line) +
                ": `Bootstrap: localimage` needs a `From:` image");
  stdfs::path p = from;
  if (p.is_relative()) p = stdfs::path(def.dir) / p;
  std::error_code ec;
  stdfs::path exact = stdfs::canonical(p, ec);
  if (ec) throw Error(def.path + ": base image " + p.string() + " not found");
  return Base{exact.string(), p.lexically_normal().string()};
}

std::optional<Base> resolve_base(const Store& store, const BuildOptions& o, const DefFile& def) {
  const DefStage* stage = def.base_stage();
  if (o.from_layer) {
    check_layer_name(*o.from_layer);
    def.require_base_stage("layer '" + o.layer + "' is built FROM '" + *o.from_layer +
                           "', so its def must say `Bootstrap: localimage`");
    auto ts = store.active_ts(*o.from_layer);
    if (!ts)
      throw Error("base layer '" + *o.from_layer + "' has no active build in " + store.root() +
                  " (build it first: sifstore build " + *o.from_layer + " --def ...)");
    auto paths = store.paths(*o.from_layer, *ts);
    auto dir = store.layer_dir(*o.from_layer);
    if (!dir || dir->type_of(artifact_name(*o.from_layer, *ts, Artifact::kSif)) != S_IFREG)
      throw Error("base layer '" + *o.from_layer + "' points at a missing build: " + paths.sif);
    return Base{absolute(paths.sif), absolute(paths.pointer)};
  }
  if (!stage) return std::nullopt;
  return resolve_image(def, *stage);
}

// The other `Bootstrap: localimage` stages of the def (every one but the
// base stage), by index in def.stages, each resolved to its exact image:
// the locked def pins them too, so that its rebuild reads the same images
// and prune keeps them.
std::map<size_t, Base> resolve_stage_images(const DefFile& def) {
  std::map<size_t, Base> out;
  const DefStage* base = def.base_stage();
  for (size_t i = 0; i < def.stages.size(); ++i)
    if (def.stages[i].from_local_image() && &def.stages[i] != base)
      out.emplace(i, resolve_image(def, def.stages[i]));
  return out;
}

// From the moment the build def is written, prune of the base layer keeps
// the base (Store::prune reads running builds' defs). A prune that ran
// between resolve_base() and that moment may have removed it: under the base
// layer's lock (which prune holds throughout), check it is still there.
void confirm_base_kept(const Store& store, const BuildOptions& o, const Base& base) {
  std::optional<LayerLock> lock;
  if (o.from_layer)
    if (auto dir = store.layer_dir(*o.from_layer)) lock.emplace(*dir);
  struct stat st;
  if (::stat(base.exact.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error("base image " + base.exact + " was pruned as the build of " + o.layer +
                " started; nothing was built: run the build again");
}

// The def handed to the builder: the rough def with the base stage's
// `From:` replaced by the exact base image, and every other localimage
// stage's by its exact image.
std::string build_def_text(const DefFile& def, const std::optional<Base>& base,
                           const std::map<size_t, Base>& others) {
  std::vector<FromPin> pins;
  if (base) pins.push_back({def.base_stage(), base->exact});
  for (const auto& [index, image] : others) pins.push_back({&def.stages[index], image.exact});
  if (pins.empty()) return def.text;
  std::string text = pin_froms(def, pins);
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

// Removes what an unfinished build left, keeping its log for the user.
class BuildCleanup {
 public:
  BuildCleanup(const Dir& dir, std::string layer, std::string ts)
      : dir_(dir), layer_(std::move(layer)), ts_(std::move(ts)) {}
  void done() { done_ = true; }
  ~BuildCleanup() {
    if (done_) return;
    try {
      for (const auto& n : {partial_sif_name(layer_, ts_), build_def_name(layer_, ts_),
                            verify_sif_name(layer_, ts_)})
        dir_.unlink(n);
      if (!dir_.exists(artifact_name(layer_, ts_, Artifact::kSif))) {
        for (Artifact a : {Artifact::kLock, Artifact::kDef, Artifact::kRoughDef})
          dir_.unlink(artifact_name(layer_, ts_, a));
      }
      if (dir_.exists(partial_log_name(layer_, ts_)))
        dir_.rename(partial_log_name(layer_, ts_), artifact_name(layer_, ts_, Artifact::kBuildLog));
      release_reservation(dir_, layer_, ts_);
    } catch (...) {
      // Best effort: fsck --repair clears whatever is left.
    }
  }

 private:
  const Dir& dir_;
  std::string layer_, ts_;
  bool done_ = false;
};

// Runs `<builder> build [builder args] [--build-arg KEY=VALUE for each
// secret] <out> <def>` in cwd, logging to log_fd (secret values shown as
// "<secret>").
void run_builder_build(const std::vector<std::string>& builder,
                       const std::vector<std::string>& builder_args,
                       const std::map<std::string, std::string>& secrets, const std::string& out,
                       const std::string& def, const std::string& cwd, int log_fd, int echo_fd,
                       const std::string& what, const std::string& log_path) {
  std::vector<std::string> argv = builder;
  argv.push_back("build");
  argv.insert(argv.end(), builder_args.begin(), builder_args.end());
  std::string shown;
  for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + a;
  for (const auto& [key, value] : secrets) {
    argv.push_back("--build-arg");
    argv.push_back(key + "=" + value);
    shown += " --build-arg " + key + "=<secret>";
  }
  argv.push_back(out);
  argv.push_back(def);
  shown += " " + out + " " + def;
  append_line(log_fd, "sifstore: " + what + ": " + shown);
  append_line(log_fd, "sifstore: in " + cwd);
  std::vector<std::string> redact;
  for (const auto& [key, value] : secrets) redact.push_back(value);
  StreamedRun run = run_streamed(argv, cwd, log_fd, echo_fd, redact);
  if (run.interrupted) throw Error(what + " interrupted (" + run.status.describe() + ")");
  if (!run.status.ok())
    throw Error(what + " failed: " + builder[0] + " " + run.status.describe() +
                " (log: " + log_path + ")");
  struct stat st;
  if (::stat(out.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(what + ": " + builder[0] + " succeeded but wrote no image at " + out);
}

Fd open_log(const Dir& dir, const std::string& name) {
  return dir.create_file(name, O_WRONLY | O_TRUNC | O_NONBLOCK, 0644,
                         "cannot create build log " + dir.path_of(name));
}

// Whether a build of the layer newer than ts is published.
bool newer_build_published(const Dir& dir, std::string_view layer, std::string_view ts) {
  for (const auto& e : dir.scan()) {
    auto parsed = parse_artifact_name(layer, e.name);
    if (parsed && parsed->artifact == Artifact::kSif && parsed->ts > ts) return true;
  }
  return false;
}

// The definition a layer is built from: what the lock of its newest build
// with one records as `def-path` (nullopt for a new layer, or builds made by
// the reference tool, which records none).
std::optional<std::string> layer_definition(const Store& store, const std::string& layer) {
  auto dir = store.layer_dir(layer);
  if (!dir) return std::nullopt;
  BuildListing listing = store.list_entries(layer);
  for (const auto& b : listing.builds) {
    if (!b.has(Artifact::kSif) || !b.has(Artifact::kLock)) continue;
    try {
      std::string name = artifact_name(layer, b.ts(), Artifact::kLock);
      auto text = dir->read_file(name);
      if (!text) continue;
      PackageLock lock = parse_lock(*text, dir->path_of(name));
      if (auto it = lock.facts.find("def-path"); it != lock.facts.end()) return it->second;
    } catch (const Error&) {
      // An unreadable lock says nothing about the owner: look further back.
    }
  }
  return std::nullopt;
}

// Refuses to build a layer from another definition than the one it is built
// from (two projects sharing a store and a layer name), unless take_over.
void check_layer_definition(const Store& store, const BuildOptions& o, const std::string& def_abs) {
  if (o.take_over) return;
  auto owner = layer_definition(store, o.layer);
  if (!owner || *owner == def_abs) return;
  std::error_code ec;
  if (stdfs::equivalent(*owner, def_abs, ec) && !ec) return;  // the same file by another path
  bool gone = !stdfs::exists(*owner, ec);
  throw Error("layer '" + o.layer + "' of " + store.root() + " is built from " + *owner +
              ", not from " + def_abs + (gone ? " (" + *owner + " no longer exists)" : "") +
              "; nothing was built. One layer of a store has one definition: give this one "
              "another layer name, or another store (--root / ROOT), or, if " +
              def_abs + " now stands in for " + *owner +
              " (a project moved or renamed), take the layer over with --take-over "
              "(add_sif_layer(... TAKE_OVER))");
}

// What a local base image is, for the input key: "sha256:<hex>". A build
// of this store (`<root>/<b>/<b>-<ts>.sif`) is taken at its lock's digest
// when its image still has it (the identity shortcut of check); any other
// file is hashed through the source cache.
std::string local_base_digest(const Store& store, const std::string& exact,
                              SourceHashCache& cache) {
  stdfs::path p = exact;
  std::error_code ec;
  stdfs::path root = stdfs::canonical(store.root(), ec);
  std::string layer = p.parent_path().filename().string();
  if (!ec && p.parent_path().parent_path() == root && is_valid_layer_name(layer)) {
    auto parsed = parse_artifact_name(layer, p.filename().string());
    auto dir = parsed && parsed->artifact == Artifact::kSif ? store.layer_dir(layer) : std::nullopt;
    if (dir) {
      try {
        std::string lock_name = artifact_name(layer, parsed->ts, Artifact::kLock);
        if (auto text = dir->read_file(lock_name)) {
          PackageLock lock = parse_lock(*text, dir->path_of(lock_name));
          if (auto it = lock.facts.find("image-sha256"); it != lock.facts.end())
            return "sha256:" + image_sha256(*dir, layer, parsed->ts, it->second).sha256;
        }
      } catch (const Error&) {
        // Read as any other file below.
      }
    }
  }
  struct stat st;
  if (::lstat(exact.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error("base image " + exact + " is not a regular file");
  return "sha256:" + cache.sha256_of(exact, st);
}

// The newest published build of the layer whose lock records `key` and that
// is whole; nullopt when none. The caller holds the layer lock.
std::optional<std::pair<std::string, PackageLock>> reusable_build(const Store& store,
                                                                  const Dir& dir,
                                                                  const std::string& layer,
                                                                  const std::string& key) {
  for (const auto& b : store.list_entries(layer).builds) {
    if (!b.has(Artifact::kSif) || !b.has(Artifact::kLock)) continue;
    std::string ts(b.ts());
    try {
      std::string lock_name = artifact_name(layer, ts, Artifact::kLock);
      auto text = dir.read_file(lock_name);
      if (!text) continue;
      PackageLock lock = parse_lock(*text, dir.path_of(lock_name));
      auto k = lock.facts.find("input-key");
      if (k == lock.facts.end() || k->second != key) continue;
      if (dir.type_of(artifact_name(layer, ts, Artifact::kSif)) != S_IFREG) continue;
      auto sha = lock.facts.find("image-sha256");
      if (sha == lock.facts.end() ||
          image_sha256(dir, layer, ts, sha->second).sha256 != sha->second)
        continue;
      std::vector<std::string> ignored;
      check_companions(dir, layer, ts, *text, lock, ignored);
      return std::make_pair(ts, std::move(lock));
    } catch (const Error&) {
      // Not whole (or unreadable): never reused; an older build may be.
    }
  }
  return std::nullopt;
}

// The round trip of build `ts` that `build --verify` asks for.
VerifyOptions verify_options_for(const BuildOptions& o, const std::string& ts) {
  VerifyOptions vo;
  vo.layer = o.layer;
  vo.ts = ts;
  vo.builder = o.builder;
  vo.builder_args = o.builder_args;
  vo.secret_build_args = o.secret_build_args;
  vo.capture = o.capture;
  vo.echo_fd = o.echo_fd;
  return vo;
}

}  // namespace

BuildResult build_layer(const Store& store, const BuildOptions& o) {
  // Everything that can be checked before the store is touched is checked
  // first, so that bad input leaves the store as it was.
  check_layer_name(o.layer);
  // The rough def as written, and as the builder gets it: build arguments
  // rendered (see render_build_args), secrets left to the builder.
  DefFile rough = read_def_file(o.def_path);
  std::set<std::string> secret_names;
  for (const auto& [key, value] : o.secret_build_args) {
    if (o.build_args.count(key))
      throw Error("build argument '" + key +
                  "' is given both as --build-arg and as --secret-build-arg");
    secret_names.insert(key);
  }
  RenderedDef rendered = render_build_args(rough, o.build_args, secret_names);
  DefFile def = rendered.text == rough.text ? rough : parse_def(rendered.text, o.def_path);
  std::map<std::string, std::string> build_arg_facts;
  if (!rendered.values.empty()) {
    try {
      // ASCII only: no Unicode line boundary (which Python's splitlines,
      // hence the reference's lock reader, honours) can split the line.
      build_arg_facts["build-args"] = nlohmann::json(rendered.values).dump(-1, ' ', true);
    } catch (const nlohmann::json::exception&) {
      throw Error(o.def_path + ": a build argument value is not UTF-8 text");
    }
  }
  if (!secret_names.empty()) {
    build_arg_facts["secret-build-args"] =
        join(std::vector<std::string>(secret_names.begin(), secret_names.end()), " ");
  }
  // The %files sources the depfile lists, resolved with the same values
  // (not the secrets: nothing SifStore writes holds them).
  std::vector<std::string> source_warnings;
  for (const auto& src : def_sources(rough, o.build_args))
    if (!src.resolved)
      source_warnings.push_back(o.def_path + ":" + std::to_string(src.line) + ": %files source '" +
                                src.src + "' cannot be resolved (" + src.why +
                                "): a change to it will not rebuild the layer");
  std::string def_abs = absolute(o.def_path);
  // The lock records these paths as text: refuse now what it cannot hold.
  check_fact_text("the definition path", def_abs);
  check_layer_definition(store, o, def_abs);
  std::vector<std::string> builder = split_command_line(o.builder);
  if (builder.empty()) throw Error("empty builder command");
  builder[0] = find_program(builder[0], "builder");
  check_builder_takes_secrets(builder, o.secret_build_args);
  std::optional<Base> base = resolve_base(store, o, def);
  registry::DefPins pins = registry::pin_registry_bases(def, {o.builder_args, o.offline, {}});
  DefFile pinned = pins.empty() ? def : parse_def(registry::pinned_def_text(def, pins), def.path);
  std::map<size_t, Base> stage_images = resolve_stage_images(def);
  std::string build_def = build_def_text(pinned, base, stage_images);
  if (base) check_fact_text("the base image path", base->exact);
  check_fact_text("the builder command", o.builder);
  // The depfile: what this build reads from the host, known before it runs.
  std::vector<std::string> deps;
  std::string depfile_target;
  if (o.depfile) {
    deps.push_back(def_abs);
    for (auto& input : def_inputs(rough, o.build_args)) deps.push_back(std::move(input));
    if (base) deps.push_back(base->depend_on);
    for (const auto& [index, image] : stage_images) deps.push_back(image.depend_on);
    depfile_target = o.depfile_target.value_or(absolute(store.paths(o.layer, "").pointer));
    std::vector<std::string> skipped;
    depfile_text(depfile_target, deps, &skipped);
    for (const auto& path : skipped)
      if (o.warn)
        o.warn("the depfile cannot name " + path +
               " (a character Ninja does not read back): a change to it will not rerun the build");
    std::set<std::string> left_out(skipped.begin(), skipped.end());
    deps.erase(std::remove_if(deps.begin(), deps.end(),
                              [&](const std::string& d) { return left_out.count(d) > 0; }),
               deps.end());
  }
  int retain = kDefaultRetain;
  std::vector<std::string> warnings;
  bool reuse = !o.rebuild;
  if (!o.retain || reuse) {
    Config cfg = load_config(store.root_dir());
    if (!o.retain) {
      retain = cfg.retain;
      warnings = cfg.warnings;
    }
    reuse = reuse && cfg.reuse;
  }
  if (o.retain) retain = *o.retain;

  // The input key (core/input_key.h): what this build reads, known before
  // it runs.
  const std::string version = builder_version(builder);
  InputKeyParts key_parts;
  // The identities it learns are saved once the build is published or
  // reused: a refused or failed build leaves the store as it was.
  SourceHashCache cache(store.root_dir());
  {
    key_parts.def_text = rendered.text;
    key_parts.build_args = rendered.values;
    key_parts.secret_names = secret_names;
    key_parts.builder = o.builder;
    key_parts.builder_args = o.builder_args;
    key_parts.builder_version = version;
    key_parts.options = {{"capture", o.capture == CaptureMethod::kExec ? "exec" : "static"},
                         {"pin-apt", o.pin_apt ? "1" : "0"},
                         {"sign", o.sign ? "1" : "0"},
                         {"keyidx", o.sign_keyidx ? std::to_string(*o.sign_keyidx) : "-"}};
    for (size_t i = 0; i < def.stages.size(); ++i) {
      if (base && &def.stages[i] == def.base_stage())
        key_parts.bases[i + 1] = local_base_digest(store, base->exact, cache);
      else if (auto it = stage_images.find(i); it != stage_images.end())
        key_parts.bases[i + 1] = local_base_digest(store, it->second.exact, cache);
    }
    for (const auto& p : pins.stages)
      key_parts.bases[p.stage + 1] =
          p.pinned.empty() ? "unpinned " + p.tagged + " (" + p.why_unpinned + ")" : p.pinned;
    key_parts.sources = source_lines(def_inputs(rough, o.build_args), rough.dir, cache);
  }
  const std::string key = input_key(key_parts);

  // Reuse: a published build of the same inputs.
  if (reuse) {
    if (auto dir = store.layer_dir(o.layer)) {
      std::optional<std::pair<std::string, PackageLock>> found;
      {
        LayerLock lock(*dir);
        found = reusable_build(store, *dir, o.layer, key);
        // The depfile first, as a build writes it before it publishes: one
        // that cannot be written leaves latest where it was.
        if (found && o.depfile) write_depfile(*o.depfile, depfile_target, deps);
        if (found && store.active_ts(o.layer) != found->first)
          store.move_pointers(o.layer, found->first);
      }
      if (found) {
        cache.save();
        BuildResult result;
        result.ts = found->first;
        result.paths = store.paths(o.layer, result.ts);
        result.lock = std::move(found->second);
        result.pointed = true;
        result.reused = true;
        result.input_key = key;
        if (base) result.base = base->exact;
        result.warnings = pins.warnings(def.path);
        if (o.warn)
          for (const auto& w : source_warnings) o.warn(w);
        if (o.verify && !dir->exists(artifact_name(o.layer, result.ts, Artifact::kVerified))) {
          try {
            result.verify = verify_build(store, verify_options_for(o, result.ts));
          } catch (const Error& e) {
            throw Error(o.layer + "-" + result.ts + " was reused, but " + e.what());
          }
        }
        return result;
      }
    }
  }

  // 1. reserve
  Dir dir = store.layer_dir_or_create(o.layer);
  {
    LayerLock lock(dir);
    clear_debris(dir, find_debris(dir, o.layer));
  }
  if (o.warn)
    for (const auto& w : source_warnings) o.warn(w);
  BuildResult result;
  result.ts = store.reserve(o.layer);
  const std::string& ts = result.ts;
  result.paths = store.paths(o.layer, ts);
  if (base) result.base = base->exact;
  BuildCleanup cleanup(dir, o.layer, ts);
  const int64_t started = static_cast<int64_t>(std::time(nullptr));
  debug_stop_point("reserved");

  // 2. build
  Fd log = open_log(dir, partial_log_name(o.layer, ts));
  append_line(log.get(), "sifstore: layer " + o.layer + ", build " + ts);
  append_line(log.get(), "sifstore: definition " + def_abs);
  for (const auto& [key, value] : rendered.values)
    append_line(log.get(), "sifstore: build argument " + key + "=" + value);
  for (const auto& w : source_warnings) append_line(log.get(), "sifstore: warning: " + w);
  if (base) append_line(log.get(), "sifstore: base image " + base->exact);
  append_line(log.get(), "sifstore: input key " + key);
  for (const auto& p : pins.stages)
    append_line(log.get(),
                "sifstore: stage " + std::to_string(p.stage + 1) + " base " + p.tagged +
                    (p.pinned.empty() ? " not pinned (" + p.why_unpinned + ")"
                                      : " -> " + p.pinned + " (resolved in " +
                                            std::to_string(int(p.seconds * 1000)) + " ms)"));
  dir.write_file_atomic(build_def_name(o.layer, ts), build_def);
  if (base) confirm_base_kept(store, o, *base);
  for (const auto& [index, image] : stage_images) confirm_base_kept(store, o, image);
  std::string partial = absolute(dir.path_of(partial_sif_name(o.layer, ts)));
  run_builder_build(builder, o.builder_args, o.secret_build_args, partial,
                    absolute(dir.path_of(build_def_name(o.layer, ts))), def.dir, log.get(),
                    o.echo_fd, "build of " + o.layer, result.paths.build_log);

  debug_stop_point("built");

  // 3. capture
  append_line(log.get(), "sifstore: capturing the lock");
  std::vector<std::string> capture_warnings;
  PackageLock lock = capture_lock(partial, o.capture, o.builder, &capture_warnings);
  for (const auto& w : capture_warnings)
    for (int fd : {log.get(), o.echo_fd}) append_line(fd, "sifstore: warning: " + w);
  lock.facts["def-sha256"] = sha256_hex(rough.text);
  lock.facts["def-path"] = def_abs;
  lock.facts["builder"] = o.builder;
  lock.facts["builder-version"] = version;
  lock.facts["input-key"] = key;
  if (base) lock.facts["base-image"] = base->exact;
  lock.facts.insert(build_arg_facts.begin(), build_arg_facts.end());
  if (o.offline && registry::pin_from_labels(pins, def, partial))
    pinned = parse_def(registry::pinned_def_text(def, pins), def.path);
  registry::record_pins(pins, def.stages.size(), lock.facts);
  result.warnings = pins.warnings(def.path);
  for (const auto& w : result.warnings) append_line(log.get(), "sifstore: warning: " + w);

  debug_stop_point("captured");

  // 4. locked def
  LockedDefOptions ldo;
  if (base) ldo.base = base->exact;
  for (const auto& [index, image] : stage_images) ldo.stage_images.emplace(index, image.exact);
  ldo.pin_apt = o.pin_apt;
  std::string locked = locked_def_text(pinned, lock, ldo);
  // Tamper evidence: the lock records the locked def's digest, and the log
  // (written last) the lock's; `check` and `fsck` compare them.
  lock.facts["locked-def-sha256"] = sha256_hex(locked);
  append_line(log.get(), "sifstore: " + std::to_string(lock.dpkg.size()) + " dpkg, " +
                             std::to_string(lock.pip.size()) + " pip, " +
                             std::to_string(node_versions(lock.node).size()) +
                             " node packages captured");

  // The SBOM, provenance and lock go into the image before its digest is
  // taken for the lock (core/provenance.h).
  seal_build(dir, partial_sif_name(o.layer, ts), o.layer, ts, lock, started);
  if (o.sign)
    sign_sealed_image(builder, o.sign_keyidx, dir, partial_sif_name(o.layer, ts), log.get(),
                      o.echo_fd, lock);
  debug_stop_point("sealed");
  // The identity of the image whose digest the lock now records (sealing
  // rewrote it and took that digest): the partial image is this build's
  // alone, nothing else writes it between that hash and here.
  auto hashed = identity_of(dir, partial_sif_name(o.layer, ts));

  // The depfile, before anything is published: a depfile that cannot be
  // written fails the build while the store is as it was.
  if (o.depfile) write_depfile(*o.depfile, depfile_target, deps);

  // 5. publish
  {
    LayerLock layer_lock(dir);
    write_lock_file(dir, artifact_name(o.layer, ts, Artifact::kLock), lock);
    dir.write_file_atomic(artifact_name(o.layer, ts, Artifact::kDef), locked);
    dir.write_file_atomic(artifact_name(o.layer, ts, Artifact::kRoughDef), rough.text);
    dir.unlink(build_def_name(o.layer, ts));
    debug_stop_point("publishing");
    append_record(log.get(), std::string(kLockDigestLogPrefix) + sha256_hex(format_lock(lock)),
                  dir.path_of(partial_log_name(o.layer, ts)));
    append_line(log.get(), "sifstore: published " + result.paths.sif);
    log = Fd();
    dir.rename(partial_log_name(o.layer, ts), artifact_name(o.layer, ts, Artifact::kBuildLog));
    dir.rename(partial_sif_name(o.layer, ts), artifact_name(o.layer, ts, Artifact::kSif));
    dir.fsync();
    if (hashed)
      record_identity(dir, o.layer, ts, *hashed, lock.facts["image-sha256"], /*renamed=*/true,
                      /*companions=*/true);
    debug_stop_point("renamed");
    release_reservation(dir, o.layer, ts);
    cleanup.done();
    cache.save();
    if (!newer_build_published(dir, o.layer, ts)) {
      store.move_pointers(o.layer, ts);
      result.pointed = true;
    }
  }
  debug_stop_point("pointed");
  result.pruned = store.prune(o.layer, retain).pruned;
  result.lock = std::move(lock);
  result.input_key = key;

  // 6. verify
  if (o.verify) {
    try {
      result.verify = verify_build(store, verify_options_for(o, ts));
    } catch (const Error& e) {
      // The build stays published (and pointed): only its round trip failed.
      throw Error(o.layer + "-" + ts + " was built and published, but " + e.what());
    }
  }
  return result;
}

VerifyResult verify_build(const Store& store, const VerifyOptions& o) {
  check_layer_name(o.layer);
  std::string ts;
  if (o.ts) {
    check_ts(*o.ts);
    ts = *o.ts;
  } else {
    auto active = store.active_ts(o.layer);
    if (!active) throw Error("layer '" + o.layer + "' has no active build to verify");
    ts = *active;
  }
  auto dir = store.layer_dir(o.layer);
  if (!dir || dir->type_of(artifact_name(o.layer, ts, Artifact::kSif)) != S_IFREG)
    throw Error("build not found: " + store.paths(o.layer, ts).sif);
  auto paths = store.paths(o.layer, ts);
  auto lock_text = dir->read_file(artifact_name(o.layer, ts, Artifact::kLock));
  if (!lock_text) throw Error("build " + o.layer + "-" + ts + " has no lock: " + paths.lock);
  PackageLock original = parse_lock(*lock_text, paths.lock);
  auto def_text = dir->read_file(artifact_name(o.layer, ts, Artifact::kDef));
  if (!def_text) throw Error("build " + o.layer + "-" + ts + " has no locked def: " + paths.def);
  // Said before the builder runs (which would fail with "no such file"),
  // and the marker is left as it was: nothing was compared.
  if (auto gone = gone_bases(*def_text, paths.def, original); !gone.empty())
    throw Error("cannot verify " + o.layer + "-" + ts + ": it " + gone.front());
  // The secrets the build was made with must be given again; no others.
  std::set<std::string> secrets_needed;
  if (auto it = original.facts.find("secret-build-args"); it != original.facts.end())
    for (auto& n : split(it->second, ' '))
      if (!n.empty()) secrets_needed.insert(std::move(n));
  for (const auto& n : secrets_needed)
    if (!o.secret_build_args.count(n))
      throw Error("build " + o.layer + "-" + ts + " was built with the secret build argument '" +
                  n + "', which is not recorded: give it again with --secret-build-arg " + n +
                  "=VALUE");
  for (const auto& [n, v] : o.secret_build_args)
    if (!secrets_needed.count(n))
      throw Error(
          "build " + o.layer + "-" + ts + " has no secret build argument '" + n +
          "' (its lock names " +
          (secrets_needed.empty() ? std::string("none") : original.facts["secret-build-args"]) +
          ")");
  std::vector<std::string> builder = split_command_line(o.builder);
  if (builder.empty()) throw Error("empty builder command");
  builder[0] = find_program(builder[0], "builder");
  check_builder_takes_secrets(builder, o.secret_build_args);
  // The registry is reached as the build reached it (plain HTTP).
  std::vector<std::string> builder_args = o.builder_args;
  if (auto f = original.facts.find("registry-no-https");
      f != original.facts.end() && registry::no_https_flag(builder_args).empty())
    builder_args.push_back(f->second);

  // The rebuild runs where the original build ran, so relative %files
  // sources resolve the same way.
  std::string cwd = absolute(dir->path());
  if (auto it = original.facts.find("def-path"); it != original.facts.end()) {
    std::string def_dir = stdfs::path(it->second).parent_path();
    if (stdfs::is_directory(def_dir)) cwd = def_dir;
  }
  // The rebuild is owned by a reservation of its own and goes to that
  // reservation's partial name, so two verifies never share a file and a
  // killed verify leaves debris that the next build and fsck recognise.
  std::string verify_ts = store.reserve(o.layer);
  std::string verify_name = partial_sif_name(o.layer, verify_ts);
  std::string out = absolute(dir->path_of(verify_name));
  struct Remove {
    const Dir& d;
    std::string layer, ts, n;
    ~Remove() {
      try {
        d.unlink(n);
        release_reservation(d, layer, ts);
      } catch (...) {
      }
    }
  } remove_rebuild{*dir, o.layer, verify_ts, verify_name};

  // The rebuild's output goes to the terminal and is appended to the log.
  const std::string log_name = artifact_name(o.layer, ts, Artifact::kBuildLog);
  Fd log = dir->create_file(log_name, O_WRONLY | O_APPEND | O_NONBLOCK, 0644,
                            "cannot write build log " + dir->path_of(log_name));
  append_line(log.get(), "sifstore: round-trip verify of " + o.layer + "-" + ts);
  // Only a completed comparison changes a marker: a rebuild or capture that
  // fails, or is interrupted, leaves the build's marker as it was.
  PackageLock rebuilt;
  try {
    run_builder_build(builder, builder_args, o.secret_build_args, out, absolute(paths.def), cwd,
                      log.get(), o.echo_fd, "the rebuild from the locked def", paths.build_log);
    rebuilt = capture_lock(out, o.capture, o.builder);
  } catch (const Error& e) {
    std::string why = std::string("could not verify ") + o.layer + "-" + ts + ": " + e.what();
    append_line(log.get(), "sifstore: " + why);
    throw Error(why + " (its marker is unchanged)");
  }
  VerifyResult r;
  r.diff = compare_locks(original, rebuilt);
  append_line(log.get(), "sifstore: round trip: " + r.diff.summary());
  if (r.diff.identical()) {
    store.mark_verified(o.layer, ts);
    r.marker = paths.verified;
  } else {
    store.mark_unverified(o.layer, ts, r.diff.summary());
    r.marker = paths.unverified;
  }
  return r;
}

}  // namespace sifstore
