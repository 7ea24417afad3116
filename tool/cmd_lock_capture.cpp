// `sifstore lock capture`: write the lock of an image (core/capture.h).
#include "tool/cmd_lock_capture.h"

#include <ostream>

#include "core/capture.h"
#include "core/error.h"
#include "core/lockfile.h"
#include "core/user_file.h"

namespace sifstore::tool {
namespace {

const Command kLockCapture{
    "lock capture", "lock capture SIF [-o FILE] [--method static|exec] [--builder CMD]",
    "write the lock of an image: the pip, dpkg and node versions installed in it.\n"
    "static (the default) reads them from the image's file system without running it;\n"
    "exec runs pip freeze, dpkg-query and npm list inside it with `CMD exec`.",
    nullptr};

}  // namespace

int lock_capture(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("output,o", po::value<std::string>(),
                  "write the lock to FILE (default, or -: stdout), then a summary")(
      "method", po::value<std::string>()->default_value("static"), "static or exec")(
      "builder", po::value<std::string>()->default_value("apptainer"),
      "the apptainer command line for --method exec");
  auto vm = parse_options(ctx, kLockCapture, d, {"SIF"}, args);
  if (!vm) return 0;
  std::string method_word = (*vm)["method"].as<std::string>();
  if (method_word != "static" && method_word != "exec")
    throw UsageError("lock capture: --method must be static or exec, not '" + method_word +
                     "' (usage: sifstore " + kLockCapture.synopsis + ")");
  std::string builder = (*vm)["builder"].as<std::string>();
  if (builder.empty()) throw UsageError("lock capture: --builder must not be empty");

  std::vector<std::string> warnings;
  PackageLock lock = capture_lock((*vm)["SIF"].as<std::string>(), parse_capture_method(method_word),
                                  builder, &warnings);
  for (const auto& w : warnings) ctx.err << "sifstore: warning: " << w << "\n";
  if (!vm->count("output")) {
    ctx.out << format_lock(lock);
    return 0;
  }
  std::string out = (*vm)["output"].as<std::string>();
  if (write_user_file(out, format_lock(lock), "-o") == UserFileWritten::kStandardOutput) return 0;
  ctx.out << "wrote " << out << ": " << lock.pip.size() << " pip, " << lock.dpkg.size() << " dpkg, "
          << node_versions(lock.node).size() << " node";
  if (!lock.rpm.empty()) ctx.out << ", " << lock.rpm.size() << " rpm";
  if (!lock.conda.empty()) ctx.out << ", " << lock.conda.size() << " conda";
  ctx.out << " packages (" << lock.facts["captured-by"] << " capture)\n";
  return 0;
}

}  // namespace sifstore::tool
