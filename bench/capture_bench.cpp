// capture_bench: static lock capture against `unsquashfs -cat` of the same
// files, and sha256 of a 1 GiB file against `sha256sum`
// (docs/DESIGN.md#quality-bars).
//
//   capture_bench [--dpkg N] [--pip N] [--node N] [--runs R] [--dir DIR] [--no-sha]
//
// It builds a genuine SIF (mksquashfs, gzip, then siftool) whose root holds
// a synthetic Debian system: a dpkg status database of N packages (default
// 2,500, stanzas shaped like Debian's), N Python distributions (default
// 600: dist-info directories with METADATA, RECORD, WHEEL, ..., beside their
// package directories) and N global node modules (default 40). Then, in
// alternating rounds, it times
//
//   capture  capture_static() on the image: open the SIF and its squashfs,
//            read the status database, find pip and its interpreter, list
//            the site directories and read every METADATA, list and read the
//            node modules -- everything static capture does;
//   cat      `unsquashfs -o OFFSET -cat SIF <those files>` to /dev/null: the
//            same files extracted by the squashfs reference tool.
//
// and prints the best and median of each and the ratio capture / cat
// (target: <= 1.5). The sha256 part writes a 1 GiB file, reads it once to
// warm the page cache, then times sha256_file() against `sha256sum` in
// alternating rounds and prints their throughput and the speed ratio
// (target: >= 0.9). It asserts nothing.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/capture.h"
#include "core/error.h"
#include "core/sha256.h"
#include "core/sif.h"
#include "core/squashfs.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << content;
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

// Runs argv with stdout (and stderr unless keep_stderr) to /dev/null;
// returns the exit status.
int spawn_quiet(const std::vector<std::string>& argv, bool keep_stderr = false) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (!keep_stderr) posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Stats {
  std::vector<double> runs;
  double best() const { return *std::min_element(runs.begin(), runs.end()); }
  double median() const {
    std::vector<double> r = runs;
    std::sort(r.begin(), r.end());
    return r[r.size() / 2];
  }
};

std::string words(std::mt19937& gen, int n) {
  static const char* const kWords[] = {"data",   "fast",  "library", "python",  "parser",
                                       "module", "tools", "support", "network", "image",
                                       "format", "test",  "client",  "server",  "async"};
  std::string s;
  for (int i = 0; i < n; ++i) s += std::string(i ? " " : "") + kWords[gen() % 15];
  return s;
}

// A Debian status stanza, shaped like the real ones.
std::string dpkg_stanza(std::mt19937& gen, int i) {
  std::string name = "lib" + words(gen, 1) + std::to_string(i);
  std::string s = "Package: " + name + "\nStatus: install ok installed\nPriority: optional\n";
  s += "Section: libs\nInstalled-Size: " + std::to_string(gen() % 5000 + 10) + "\n";
  s += "Maintainer: Debian Maintainers <pkg-" + name + "@lists.debian.org>\n";
  s += "Architecture: amd64\nMulti-Arch: same\nSource: " + name + "-src\n";
  s += "Version: " + std::to_string(gen() % 3) + ":" + std::to_string(gen() % 20) + "." +
       std::to_string(gen() % 50) + "-" + std::to_string(gen() % 9 + 1) + "+deb12u1\n";
  s += "Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0), zlib1g (>= 1:1.2.0)\n";
  s += "Description: " + words(gen, 6) + "\n";
  for (int l = 0; l < 4; ++l) s += " " + words(gen, 12) + "\n";
  if (i % 7 == 0) s += "Conffiles:\n /etc/" + name + ".conf 0123456789abcdef0123456789abcdef\n";
  return s + "\n";
}

std::string metadata(std::mt19937& gen, const std::string& name, const std::string& version) {
  std::string s = "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n";
  s += "Summary: " + words(gen, 8) + "\nHome-page: https://example.org/" + name + "\n";
  s += "Author: Someone\nLicense: MIT\nRequires-Python: >=3.8\n";
  for (int r = 0; r < 5; ++r)
    s += "Requires-Dist: dep" + std::to_string(gen() % 500) + " (>=1.0)\n";
  s += "Classifier: Programming Language :: Python :: 3\n";
  s += "Description-Content-Type: text/markdown\n\n# " + name + "\n\n";
  int paragraphs = static_cast<int>(gen() % 40) + 5;  // 1-10 KB of long description
  for (int p = 0; p < paragraphs; ++p) s += words(gen, 30) + ".\n\n";
  return s;
}

struct Image {
  fs::path sif;
  uint64_t partition_offset = 0;
  std::vector<std::string> files;  // what static capture reads, for unsquashfs -cat
};

Image build_image(const fs::path& dir, int n_dpkg, int n_pip, int n_node) {
  std::mt19937 gen(7);
  fs::path root = dir / "root";
  Image img;
  std::string status;
  for (int i = 0; i < n_dpkg; ++i) status += dpkg_stanza(gen, i);
  write(root / "var/lib/dpkg/status", status);
  fs::create_directories(root / "var/lib/dpkg/updates");
  img.files.push_back("var/lib/dpkg/status");

  write(root / "usr/bin/python3.11", "placeholder interpreter\n");
  fs::create_symlink("python3.11", root / "usr/bin/python3");
  write(root / "usr/bin/pip",
        "#!/usr/bin/python3\nimport sys\nfrom pip._internal.cli.main import main\n");
  img.files.push_back("usr/bin/pip");
  fs::path site = root / "usr/lib/python3/dist-packages";
  for (int i = 0; i < n_pip; ++i) {
    std::string name = "py" + words(gen, 1) + std::to_string(i);
    std::string version = std::to_string(gen() % 5) + "." + std::to_string(gen() % 30) + "." +
                          std::to_string(gen() % 10);
    std::string info = name + "-" + version + ".dist-info";
    write(site / info / "METADATA", metadata(gen, name, version));
    write(site / info / "WHEEL",
          "Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: true\n");
    write(site / info / "INSTALLER", "pip\n");
    write(site / info / "top_level.txt", name + "\n");
    std::string record;
    for (int m = 0; m < 4; ++m) {
      std::string mod = name + "/mod" + std::to_string(m) + ".py";
      write(site / mod,
            "# " + words(gen, 40) + "\ndef f():\n    return " + std::to_string(m) + "\n");
      record += mod + ",sha256=abc,120\n";
    }
    write(site / info / "RECORD", record);
    img.files.push_back("usr/lib/python3/dist-packages/" + info + "/METADATA");
  }
  write(root / "usr/bin/node", "placeholder node\n");
  write(root / "usr/lib/node_modules/npm/bin/npm-cli.js", "#!/usr/bin/env node\n");
  write(root / "usr/lib/node_modules/npm/package.json", R"({"name":"npm","version":"10.9.0"})");
  fs::create_symlink("../lib/node_modules/npm/bin/npm-cli.js", root / "usr/bin/npm");
  img.files.push_back("usr/lib/node_modules/npm/package.json");
  for (int i = 0; i < n_node; ++i) {
    std::string name = "node-" + words(gen, 1) + std::to_string(i);
    write(root / "usr/lib/node_modules" / name / "package.json",
          "{\"name\":\"" + name + "\",\"version\":\"1." + std::to_string(i) + ".0\"}");
    write(root / "usr/lib/node_modules" / name / "index.js", "module.exports = 1;\n");
    img.files.push_back("usr/lib/node_modules/" + name + "/package.json");
  }

  fs::path sqfs = dir / "root.squashfs";
  img.sif = dir / "bench.sif";
  if (spawn_quiet({"mksquashfs", root.string(), sqfs.string(), "-noappend", "-all-root", "-quiet",
                   "-no-progress", "-comp", "gzip"},
                  true) != 0 ||
      spawn_quiet({"siftool", "new", img.sif.string()}, true) != 0 ||
      spawn_quiet({"siftool", "add", "--datatype", "4", "--parttype", "2", "--partfs", "1",
                   "--partarch", "2", img.sif.string(), sqfs.string()},
                  true) != 0)
    throw std::runtime_error("building the image failed: needs mksquashfs and siftool");
  sifstore::SifImage sif = sifstore::SifImage::open(img.sif.string());
  img.partition_offset = static_cast<uint64_t>(sif.primary_partition().offset);
  fs::remove_all(root);
  fs::remove(sqfs);
  return img;
}

void bench_capture(const fs::path& dir, int n_dpkg, int n_pip, int n_node, int rounds) {
  auto t0 = Clock::now();
  Image img = build_image(dir, n_dpkg, n_pip, n_node);
  std::cout << "image: " << img.sif.string() << ", " << fs::file_size(img.sif)
            << " bytes, built in " << seconds(Clock::now() - t0) << " s\n";

  sifstore::PackageLock lock;
  auto run_capture = [&]() {
    sifstore::SifImage sif = sifstore::SifImage::open(img.sif.string());
    lock = sifstore::capture_static(sifstore::SquashfsImage::open_primary(sif));
  };
  std::vector<std::string> cat = {"unsquashfs", "-o", std::to_string(img.partition_offset), "-cat",
                                  img.sif.string()};
  cat.insert(cat.end(), img.files.begin(), img.files.end());
  std::vector<std::string> cat1 = cat;
  cat1.insert(cat1.begin() + 1, {"-p", "1"});

  // Warm the page cache and check both sides work.
  run_capture();
  if (spawn_quiet(cat, true) != 0) throw std::runtime_error("unsquashfs -cat failed");
  std::cout << "captured: " << lock.dpkg.size() << " dpkg, " << lock.pip.size() << " pip, "
            << sifstore::node_versions(lock.node).size() << " node packages (" << img.files.size()
            << " files for unsquashfs -cat)\n";
  if (static_cast<int>(lock.dpkg.size()) != n_dpkg || static_cast<int>(lock.pip.size()) != n_pip)
    throw std::runtime_error("capture missed packages");

  Stats ours, theirs, theirs1;
  for (int r = 0; r < rounds; ++r) {
    auto a = Clock::now();
    run_capture();
    ours.runs.push_back(seconds(Clock::now() - a));
    a = Clock::now();
    spawn_quiet(cat);
    theirs.runs.push_back(seconds(Clock::now() - a));
    a = Clock::now();
    spawn_quiet(cat1);
    theirs1.runs.push_back(seconds(Clock::now() - a));
  }
  std::printf("static capture        best %8.2f ms  median %8.2f ms\n", ours.best() * 1e3,
              ours.median() * 1e3);
  std::printf("unsquashfs -cat       best %8.2f ms  median %8.2f ms\n", theirs.best() * 1e3,
              theirs.median() * 1e3);
  std::printf("unsquashfs -p 1 -cat  best %8.2f ms  median %8.2f ms\n", theirs1.best() * 1e3,
              theirs1.median() * 1e3);
  std::printf("ratio capture / unsquashfs -cat: %.2f (median %.2f; target <= 1.5)\n",
              ours.best() / theirs.best(), ours.median() / theirs.median());
  std::printf("ratio capture / unsquashfs -p 1 -cat: %.2f (median %.2f)\n",
              ours.best() / theirs1.best(), ours.median() / theirs1.median());

  // The whole `lock capture`: the same plus the image's sha256.
  auto a = Clock::now();
  sifstore::PackageLock full =
      sifstore::capture_lock(img.sif.string(), sifstore::CaptureMethod::kStatic);
  std::printf("capture_lock (with image sha256 of %.1f MB): %.2f ms\n",
              static_cast<double>(fs::file_size(img.sif)) / 1e6, seconds(Clock::now() - a) * 1e3);
}

void bench_sha256(const fs::path& dir, int rounds) {
  fs::path file = dir / "1GiB.bin";
  {
    // Pseudo-random content (a constant file could hit no fast path, but
    // this keeps the test honest).
    std::ofstream f(file, std::ios::binary);
    std::mt19937_64 gen(1);
    std::vector<uint64_t> buf(1 << 17);  // 1 MiB
    for (int mb = 0; mb < 1024; ++mb) {
      for (auto& w : buf) w = gen();
      f.write(reinterpret_cast<const char*>(buf.data()), buf.size() * sizeof(uint64_t));
    }
  }
  const double gib = 1024.0 * 1024 * 1024;
  std::string digest = sifstore::sha256_file(file.string());  // warms the page cache
  Stats ours, theirs;
  for (int r = 0; r < rounds; ++r) {
    auto a = Clock::now();
    if (sifstore::sha256_file(file.string()) != digest) throw std::runtime_error("unstable digest");
    ours.runs.push_back(seconds(Clock::now() - a));
    a = Clock::now();
    if (spawn_quiet({"sha256sum", file.string()}) != 0)
      throw std::runtime_error("sha256sum failed");
    theirs.runs.push_back(seconds(Clock::now() - a));
  }
  std::printf("sha256_file  1 GiB  best %7.1f ms (%6.0f MiB/s)  median %7.1f ms\n",
              ours.best() * 1e3, gib / ours.best() / 1048576, ours.median() * 1e3);
  std::printf("sha256sum    1 GiB  best %7.1f ms (%6.0f MiB/s)  median %7.1f ms\n",
              theirs.best() * 1e3, gib / theirs.best() / 1048576, theirs.median() * 1e3);
  std::printf("speed ratio sha256_file / sha256sum: %.2f (median %.2f; target >= 0.9)\n",
              theirs.best() / ours.best(), theirs.median() / ours.median());
  fs::remove(file);
}

}  // namespace

int main(int argc, char** argv) {
  int n_dpkg = 2500, n_pip = 600, n_node = 40, rounds = 7;
  bool sha = true;
  std::string base;  // where the scratch directory goes (default $TMPDIR or /tmp)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--dpkg")
      n_dpkg = next();
    else if (a == "--pip")
      n_pip = next();
    else if (a == "--node")
      n_node = next();
    else if (a == "--runs" || a == "--rounds")
      rounds = std::max(1, next());
    else if (a == "--dir" && i + 1 < argc)
      base = argv[++i];
    else if (a == "--no-sha")
      sha = false;
    else {
      std::cerr << "usage: capture_bench [--dpkg N] [--pip N] [--node N] [--runs R] [--dir DIR] "
                   "[--no-sha]\n";
      return 2;
    }
  }
  const char* tmp = std::getenv("TMPDIR");
  if (base.empty()) base = tmp && *tmp ? tmp : "/tmp";
  std::string tmpl = base + "/capture-bench-XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  fs::path dir = tmpl;
  int rc = 0;
  try {
    bench_capture(dir, n_dpkg, n_pip, n_node, rounds);
    if (sha) bench_sha256(dir, rounds);
  } catch (const std::exception& e) {
    std::cerr << "capture_bench: " << e.what() << "\n";
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return rc;
}
