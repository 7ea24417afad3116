// check_bench: `sifstore check` of an unchanged image of 1 GiB and of 8 GiB
// (docs/DESIGN.md#image-identity), first with a full hash and then
// repeated, against `stat` of the image and `/bin/true` (process start),
// all measured in one run; and 1,000 `check` calls on one store in a loop
// against 1,000 `stat` calls.
//
//   first     `sifstore check L` with no identity record: a full hash
//   repeated  `sifstore check L` with the record the first call wrote
//   stat      `stat IMAGE` (coreutils), `true` (/bin/true): process start
//
// Each image is written once with pseudo-random bytes (incompressible, no
// holes: its hash reads every block), its sha256 computed while writing, and
// laid out as a verified build with a lock and a locked def. The page cache
// is NOT dropped (that would slow every other process of the machine): the
// full hash reads from memory when the image fits in it, so its figure is a
// lower bound of what a cold cache or a file server gives. Prints medians of
// wall-clock and CPU time and their ratios, and the load average before and
// after; asserts nothing. Targets: repeated >= 100x faster than the full
// hash of 1 GiB; repeated within 2x of stat + process start; the same for
// both sizes.
//
// usage: check_bench [--runs N] [--full-runs N] [--loop N] [--sizes-gib A,B] [--dir DIR]
//   DIR: where the scratch store goes (default $TMPDIR or /tmp); it needs
//   the sum of the sizes free, and is removed at the end.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "timing.h"

namespace {

using namespace sifstore::bench;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Runs argv with stdout and stdin on /dev/null; throws when it fails.
Timing run(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::execvp(cargv[0], cargv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  Timing t;
  t.wall = std::chrono::duration<double>(Clock::now() - start).count();
  t.cpu = seconds(ru.ru_utime) + seconds(ru.ru_stime);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("command failed (status " + std::to_string(status) + "): " + argv[0] +
                             " " + (argv.size() > 1 ? argv.back() : ""));
  return t;
}

void row(const std::string& what, const Series& s) {
  Timing m = s.med();
  std::printf("  %-52s %10.2f ms %10.2f ms\n", what.c_str(), m.wall * 1000, m.cpu * 1000);
}

void ratio(const std::string& what, const Series& num, const Series& den, const char* target) {
  Timing a = num.med(), b = den.med();
  std::printf("  %-52s %9.2fx  %9.2fx   %s\n", what.c_str(), a.wall / b.wall,
              b.cpu > 0 ? a.cpu / b.cpu : 0.0, target);
}

void write_text(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0)
    throw std::runtime_error("cannot write " + path);
}

// Writes `bytes` pseudo-random bytes (xorshift64*) to path, fsyncs, and
// returns their sha256 in hex.
std::string write_image(const std::string& path, uint64_t bytes, uint64_t seed) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<uint64_t> buf((8u << 20) / sizeof(uint64_t));
  uint64_t x = seed | 1;
  for (uint64_t done = 0; done < bytes;) {
    for (auto& w : buf) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      w = x * 0x2545F4914F6CDD1DULL;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - done, buf.size() * 8));
    const char* p = reinterpret_cast<const char*>(buf.data());
    for (size_t off = 0; off < n;) {
      ssize_t w = ::write(fd, p + off, n - off);
      if (w <= 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
      off += static_cast<size_t>(w);
    }
    EVP_DigestUpdate(ctx, p, n);
    done += n;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw std::runtime_error("cannot sync " + path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  char b[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(b, sizeof b, "%02x", md[i]);
    hex += b;
  }
  return hex;
}

const char* const kTs = "2026-0101-000000";

// A verified build <layer>-<kTs> of an image of `gib` GiB, pointed at.
// Returns the image's path.
std::string make_build(const std::string& root, const std::string& layer, double gib) {
  std::string dir = root + "/" + layer;
  fs::create_directories(dir);
  std::string stem = dir + "/" + layer + "-" + kTs;
  std::string sha = write_image(stem + ".sif", static_cast<uint64_t>(gib * (1u << 30)),
                                0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(gib * 7));
  write_text(stem + ".lock",
             "# scitex-container lock\n# image-sha256: " + sha + "\n[pip]\n[dpkg]\n[node]\n");
  write_text(stem + ".def", "Bootstrap: scratch\n");
  write_text(stem + ".verified", "round-trip verified\n");
  fs::create_symlink(layer + "/" + layer + "-" + kTs + ".sif", root + "/" + layer + ".sif");
  return stem + ".sif";
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 21, full_runs = 3, loop = 1000;
  std::vector<double> sizes = {1, 8};
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--full-runs" && i + 1 < argc) {
      full_runs = std::atoi(argv[++i]);
    } else if (a == "--loop" && i + 1 < argc) {
      loop = std::atoi(argv[++i]);
    } else if (a == "--sizes-gib" && i + 1 < argc) {
      sizes.clear();
      std::stringstream in(argv[++i]);
      for (std::string s; std::getline(in, s, ',');) sizes.push_back(std::atof(s.c_str()));
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: check_bench [--runs N] [--full-runs N] [--loop N] [--sizes-gib A,B] "
                   "[--dir DIR]\n");
      return 2;
    }
  }
  if (runs < 1 || full_runs < 1 || loop < 1 || sizes.empty()) {
    std::fprintf(stderr, "check_bench: counts must be >= 1\n");
    return 2;
  }
  const std::string sifstore = SIFSTORE_EXE;
  std::string scratch = dir + "/sifstore-check-bench-XXXXXX";
  if (!::mkdtemp(scratch.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string root = scratch + "/store";
  int status = 0;
  try {
    std::printf("check_bench: images of");
    for (double s : sizes) std::printf(" %g GiB", s);
    std::printf("; %d runs per figure (%d of the full hash), medians; store in %s\n", runs,
                full_runs, dir.c_str());
    std::printf("  load average at the start: %s\n", load_average().c_str());
    std::vector<std::string> layers, images;
    for (double s : sizes) {
      char name[32];
      std::snprintf(name, sizeof name, "img%g", s);
      for (char* c = name; *c; ++c)
        if (*c == '.') *c = '_';
      auto start = Clock::now();
      images.push_back(make_build(root, name, s));
      layers.push_back(name);
      std::printf("  wrote %s (%g GiB) in %.1f s\n", name, s,
                  std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::printf("  load average after writing: %s\n", load_average().c_str());
    std::printf("  %-52s %13s %13s\n", "", "wall", "cpu");

    Series s_true, s_stat;
    std::vector<Series> s_first(sizes.size()), s_again(sizes.size());
    for (size_t k = 0; k < sizes.size(); ++k) {
      const std::string record =
          root + "/" + layers[k] + "/." + layers[k] + "-" + kTs + ".identity";
      std::vector<std::string> check = {sifstore, "--root", root, "check", layers[k]};
      for (int r = 0; r < full_runs; ++r) {
        fs::remove(record);
        s_first[k].add(run(check));
        if (!fs::exists(record)) throw std::runtime_error("check wrote no record " + record);
      }
      for (int r = 0; r < runs; ++r) {
        s_again[k].add(run(check));
        s_stat.add(run({"stat", images[k]}));
        s_true.add(run({"true"}));
      }
    }
    std::printf("\nsingle calls\n");
    row("true (process start)", s_true);
    row("stat IMAGE (process start + stat)", s_stat);
    for (size_t k = 0; k < sizes.size(); ++k) {
      char what[96];
      std::snprintf(what, sizeof what, "check, %g GiB, first (full hash)", sizes[k]);
      row(what, s_first[k]);
      std::snprintf(what, sizeof what, "check, %g GiB, repeated", sizes[k]);
      row(what, s_again[k]);
    }
    std::printf("\nratios %49s %10s %10s\n", "", "wall", "cpu");
    for (size_t k = 0; k < sizes.size(); ++k) {
      char what[96];
      std::snprintf(what, sizeof what, "%g GiB: first / repeated", sizes[k]);
      ratio(what, s_first[k], s_again[k], k == 0 ? "(target >= 100x for 1 GiB)" : "");
      std::snprintf(what, sizeof what, "%g GiB: repeated / stat", sizes[k]);
      ratio(what, s_again[k], s_stat, "(target <= 2x)");
    }
    for (size_t k = 1; k < sizes.size(); ++k) {
      char what[96];
      std::snprintf(what, sizeof what, "repeated: %g GiB / %g GiB", sizes[k], sizes[0]);
      ratio(what, s_again[k], s_again[0], "(target ~1x: flat in size)");
    }

    // The loop: `loop` checks of one layer, one after the other, against as
    // many `stat` calls.
    std::vector<std::string> check = {sifstore, "--root", root, "check", layers.back()};
    Series l_check, l_stat;
    Timing total_check, total_stat;
    auto start = Clock::now();
    for (int i = 0; i < loop; ++i) total_check.cpu += run(check).cpu;
    total_check.wall = std::chrono::duration<double>(Clock::now() - start).count();
    start = Clock::now();
    for (int i = 0; i < loop; ++i) total_stat.cpu += run({"stat", images.back()}).cpu;
    total_stat.wall = std::chrono::duration<double>(Clock::now() - start).count();
    l_check.add(total_check);
    l_stat.add(total_stat);
    std::printf("\n%d calls in a loop (%g GiB image)\n", loop, sizes.back());
    std::printf("  %-52s %10.2f s  %10.2f s\n", "sifstore check", total_check.wall,
                total_check.cpu);
    std::printf("  %-52s %10.2f s  %10.2f s\n", "stat IMAGE", total_stat.wall, total_stat.cpu);
    ratio("check loop / stat loop", l_check, l_stat, "(target <= 2x)");
    std::printf("\n  load average at the end: %s\n", load_average().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "check_bench: %s\n", e.what());
    status = 1;
  }
  fs::remove_all(scratch);
  return status;
}
