#include "support/sif_maker.h"

#include <stdexcept>

#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

bool on_path(const std::string& program) {
  return run({"/bin/sh", "-c", "command -v \"$0\" >/dev/null", program}).status == 0;
}

void run_or_throw(const std::vector<std::string>& argv) {
  RunResult r = run(argv);
  if (r.status != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    throw std::runtime_error(cmd + " failed (status " + std::to_string(r.status) + "): " + r.err +
                             r.out);
  }
}

}  // namespace

std::string sif_tools_missing() {
  std::string missing;
  if (!on_path("mksquashfs")) missing += " mksquashfs (Debian package squashfs-tools)";
  if (!on_path("siftool")) missing += " siftool (Debian package siftool)";
  return missing.empty() ? "" : "needs" + missing;
}

void make_squashfs(const std::string& root_dir, const std::string& out,
                   const std::string& compressor) {
  run_or_throw({"mksquashfs", root_dir, out, "-noappend", "-all-root", "-quiet", "-no-progress",
                "-comp", compressor});
}

void make_sif(const std::string& out, const std::string& squashfs_file,
              const std::string& def_text) {
  run_or_throw({"siftool", "new", out});
  if (!def_text.empty()) {
    std::string def = out + ".def";
    write_file(def, def_text);
    run_or_throw({"siftool", "add", "--datatype", "1", "--groupid", "1", out, def});
  }
  run_or_throw({"siftool", "add", "--datatype", "4", "--parttype", "2", "--partfs", "1",
                "--partarch", "2", "--groupid", "1", out, squashfs_file});
}

void make_sif_from_tree(const std::string& out, const std::string& root_dir,
                        const std::string& def_text) {
  std::string squashfs = out + ".squashfs";
  make_squashfs(root_dir, squashfs);
  make_sif(out, squashfs, def_text);
}

}  // namespace sifstore::test
