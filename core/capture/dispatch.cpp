#include "core/capture/dispatch.h"

#include "core/capture/conda.h"
#include "core/capture/dpkg.h"
#include "core/capture/npm.h"
#include "core/capture/pip.h"
#include "core/capture/rpm.h"
#include "core/error.h"
#include "core/process.h"
#include "core/sha256.h"
#include "core/sif.h"
#include "core/text.h"

namespace sifstore {

PackageLock capture_static(const SquashfsImage& fs, std::vector<std::string>* warnings) {
  PackageLock lock;
  lock.dpkg = parse_dpkg_query(static_dpkg_query(fs, warnings));
  lock.pip = parse_pip_freeze(static_pip_freeze(fs));
  lock.node = std::string(trim(static_npm_list(fs)));
  lock.rpm = parse_rpm_query(static_rpm_query(fs));
  lock.conda = static_conda_list(fs);
  return lock;
}

PackageLock capture_exec(const std::string& sif_path, const std::string& builder) {
  std::vector<std::string> words = split_command_line(builder.empty() ? "apptainer" : builder);
  if (words.empty()) throw Error("--builder is empty: name the apptainer (or singularity) command");
  words[0] = find_program(words[0], "the builder (apptainer) that runs the exec capture");
  auto run_inside = [&](const std::vector<std::string>& cmd) -> std::optional<std::string> {
    std::vector<std::string> argv = words;
    for (const char* w : {"exec", "--cleanenv", "--no-home"}) argv.emplace_back(w);
    argv.push_back(sif_path);
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    CapturedRun r = run_captured(argv);
    if (!r.status.ok()) return std::nullopt;
    return std::move(r.out);
  };
  PackageLock lock;
  for (const char* pip : {"pip", "pip3"}) {
    auto out = run_inside({pip, "freeze"});
    if (out && !trim(*out).empty()) {
      lock.pip = parse_pip_freeze(*out);
      break;
    }
  }
  if (auto out = run_inside({"dpkg-query", "-W", "-f=${Package}=${Version}\n"}))
    lock.dpkg = parse_dpkg_query(*out);
  if (auto out = run_inside({"npm", "list", "-g", "--depth=0", "--json"}))
    lock.node = std::string(trim(*out));
  if (auto out = run_inside({"rpm", "-qa", "--qf", std::string(kRpmQueryFormat) + "\n"}))
    lock.rpm = parse_rpm_query(*out);
  if (auto out = run_inside({"conda", "env", "list", "--json"})) {
    for (const auto& prefix : conda_env_list_json(*out, "conda env list --json (in the image)"))
      if (auto list = run_inside({"conda", "list", "--json", "-p", prefix})) {
        auto lines = conda_list_json_lines(prefix, *list,
                                           "conda list --json -p " + prefix + " (in the image)");
        lock.conda.insert(lock.conda.end(), lines.begin(), lines.end());
      }
    sort_conda_lines(lock.conda);
  }
  return lock;
}

CaptureMethod parse_capture_method(const std::string& word) {
  if (word == "static") return CaptureMethod::kStatic;
  if (word == "exec") return CaptureMethod::kExec;
  throw Error("unknown capture method '" + word + "': use static or exec");
}

PackageLock capture_lock(const std::string& sif_path, CaptureMethod method,
                         const std::string& builder, std::vector<std::string>* warnings) {
  SifImage sif = SifImage::open(sif_path);
  PackageLock lock;
  if (method == CaptureMethod::kStatic) {
    lock = capture_static(SquashfsImage::open_primary(sif), warnings);
    lock.facts["captured-by"] = "static";
  } else {
    lock = capture_exec(sif_path, builder);
    lock.facts["captured-by"] = "exec";
    lock.facts["builder"] = builder.empty() ? "apptainer" : builder;
  }
  lock.facts["image-sha256"] = sha256_file(sif_path);
  return lock;
}

}  // namespace sifstore
