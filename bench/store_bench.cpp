// store_bench: `sifstore list` and `sifstore prune` of a layer with 10,000
// builds (docs/DESIGN.md#quality-bars), against the reference store module and against the
// plain tools that do the same disk work, all measured in one run.
//
//   list   `sifstore list base --json` and `sifstore list base` (the table),
//          whole process, output to /dev/null
//          vs the reference's list_builds() (python3; timed inside the
//             interpreter: start-up and module import NOT counted -- the
//             whole-process time is printed too)
//          vs `find <layer dir> -maxdepth 1 -name 'base-*.sif'`
//   prune  `sifstore prune base --retain 10` (whole process)
//          vs the reference's prune(retain=10) (timed inside python3)
//          vs `rm -f` of exactly the files prune removes (whole process)
//
// Each build is an empty .sif, .lock and .def; the newest build is active.
// The store is written afresh before every prune run (not timed). Prints the
// medians of wall-clock and of CPU time (user + system, from wait4 or
// time.process_time; steadier than wall time on a busy machine) and their
// ratios, and the load average before and after; asserts nothing. Targets
// (docs/DESIGN.md#quality-bars): list at least 20x faster than the reference and within 2x of
// find; prune within 1.5x of rm.
//
// usage: store_bench [--builds N] [--runs N] [--dir DIR]
//   DIR: where the scratch store goes (default $TMPDIR or /tmp); the figures
//   depend on its filesystem.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "timing.h"

extern char** environ;

namespace {

using namespace sifstore::bench;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* const kLayer = "base";
constexpr int kRetain = 10;

// The reference, timed inside the interpreter. argv: shim dir, reference dir,
// op, root, layer, retain. Prints "<wall s> <cpu s> <builds>" of the call.
const char* const kPython = R"(
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import scitex_store
op, root, layer, retain = sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
w, c = time.perf_counter(), time.process_time()
r = scitex_store.list_builds(root, layer) if op == "list" else scitex_store.prune(root, layer, retain)
print(time.perf_counter() - w, time.process_time() - c, len(r))
)";

struct Result {
  Timing t;  // of the whole process
  std::string out;
};

// Runs argv; stdout is captured when `capture`, else sent to /dev/null.
Result run(const std::vector<std::string>& argv, const std::string& cwd = "",
           bool capture = false) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int out_pipe[2] = {-1, -1};
  if (capture && ::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(capture ? out_pipe[1] : null, 1);
    ::dup2(null, 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(127);
    ::execvp(cargv[0], cargv.data());
    _exit(127);
  }
  Result r;
  if (capture) {
    ::close(out_pipe[1]);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out_pipe[0], buf, sizeof buf)) > 0) r.out.append(buf, n);
    ::close(out_pipe[0]);
  }
  int status = 0;
  struct rusage ru {};
  ::wait4(pid, &status, 0, &ru);
  r.t.wall = std::chrono::duration<double>(Clock::now() - start).count();
  r.t.cpu = seconds(ru.ru_utime) + seconds(ru.ru_stime);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a.substr(0, 60);
    throw std::runtime_error("command failed (status " + std::to_string(status) + "): " + cmd);
  }
  return r;
}

std::string ts_of(int i) {
  // Distinct, increasing, well-formed: one build a minute from 2026-01-01.
  int minute = i % 60, hour = (i / 60) % 24, day = (i / 1440) % 28 + 1, month = i / 40320 + 1;
  char buf[32];
  std::snprintf(buf, sizeof buf, "2026-%02d%02d-%02d%02d00", month, day, hour, minute);
  return buf;
}

void touch(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  ::close(fd);
}

// A store with `builds` builds of kLayer; the newest is active.
void make_store(const std::string& root, int builds) {
  fs::remove_all(root);
  fs::create_directories(root + "/" + kLayer);
  for (int i = 0; i < builds; ++i) {
    std::string base = root + "/" + kLayer + "/" + kLayer + "-" + ts_of(i);
    touch(base + ".sif");
    touch(base + ".lock");
    touch(base + ".def");
  }
  std::string target = std::string(kLayer) + "/" + kLayer + "-" + ts_of(builds - 1) + ".sif";
  if (::symlink(target.c_str(), (root + "/" + kLayer + ".sif").c_str()) != 0)
    throw std::runtime_error("symlink");
}

// The 1-, 5- and 15-minute load averages: the figures are times, and a busy
// machine makes them longer.
void row(const char* what, const Series& s) {
  Timing m = s.med();
  std::printf("  %-56s %9.1f ms %9.1f ms\n", what, m.wall * 1000, m.cpu * 1000);
}

void ratio(const char* what, const Series& num, const Series& den, const char* target) {
  Timing a = num.med(), b = den.med();
  std::printf("  %-56s %8.2fx  %8.2fx   %s\n", what, a.wall / b.wall, a.cpu / b.cpu, target);
}

// "<wall> <cpu> <count>" from the python helper.
long parse_python(const std::string& out, Timing& t) {
  long n = 0;
  if (std::sscanf(out.c_str(), "%lf %lf %ld", &t.wall, &t.cpu, &n) != 3)
    throw std::runtime_error("unexpected reference output: " + out);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int builds = 10000, runs = 7;
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--builds" && i + 1 < argc) {
      builds = std::atoi(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: store_bench [--builds N] [--runs N] [--dir DIR]\n");
      return 2;
    }
  }
  if (builds <= kRetain + 1 || runs < 1) {
    std::fprintf(stderr, "store_bench: --builds must exceed %d and --runs be >= 1\n", kRetain + 1);
    return 2;
  }
  const std::string sifstore = SIFSTORE_EXE;
  const std::string reference = std::string(SIFSTORE_SHARED_DIR) + "/reference";
  const std::string shim = std::string(SIFSTORE_SOURCE_DIR) + "/tests/diff/shim";
  const bool have_reference = fs::exists(reference + "/scitex_store.py");
  std::string scratch = dir + "/sifstore-bench-XXXXXX";
  if (!::mkdtemp(scratch.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string root = scratch + "/store";
  const std::string layer_dir = root + "/" + kLayer;

  try {
    std::printf(
        "store_bench: layer '%s' with %d builds (%d files), %d runs per figure, "
        "medians; store in %s\n",
        kLayer, builds, 3 * builds + 1, runs, dir.c_str());
    std::printf("  load average at the start: %s\n", load_average().c_str());
    if (!have_reference)
      std::printf("  (the reference is not at %s: its figures are left out)\n", reference.c_str());
    std::printf("  %-56s %12s %12s\n", "", "wall", "cpu");

    // ---- list ----------------------------------------------------------
    make_store(root, builds);
    const std::vector<std::string> list_json = {sifstore, "--root", root, "list", kLayer, "--json"};
    const std::vector<std::string> list_table = {sifstore, "--root", root, "list", kLayer};
    const std::vector<std::string> find = {"find", layer_dir, "-maxdepth",
                                           "1",    "-name",   std::string(kLayer) + "-*.sif"};
    auto listed = run(list_json, "", true);  // also warms the cache
    long listed_builds = std::count(listed.out.begin(), listed.out.end(), '{');
    if (listed_builds != builds)
      throw std::runtime_error("sifstore listed " + std::to_string(listed_builds) + " builds");
    Series s_json, s_table, s_find, s_ref, s_ref_proc;
    for (int r = 0; r < runs; ++r) {
      s_json.add(run(list_json).t);
      s_table.add(run(list_table).t);
      s_find.add(run(find).t);
      if (have_reference) {
        auto p =
            run({"python3", "-c", kPython, shim, reference, "list", root, kLayer, "0"}, "", true);
        Timing t;
        if (parse_python(p.out, t) != builds)
          throw std::runtime_error("the reference listed a different number of builds");
        s_ref.add(t);
        s_ref_proc.add(p.t);
      }
    }
    std::printf("\nlist (%ld builds)\n", listed_builds);
    row("sifstore list --json (whole process)", s_json);
    row("sifstore list, table (whole process)", s_table);
    row("find -maxdepth 1 -name 'base-*.sif' (whole process)", s_find);
    if (have_reference) {
      row("reference list_builds() (in python, import not counted)", s_ref);
      row("reference (whole python3 process, import counted)", s_ref_proc);
      ratio("reference / sifstore list --json", s_ref, s_json, "(target >= 20x)");
      ratio("reference / sifstore list, table", s_ref, s_table, "");
      ratio("whole reference process / sifstore list --json", s_ref_proc, s_json, "");
    }
    ratio("sifstore list --json / find", s_json, s_find, "(target <= 2x)");
    ratio("sifstore list, table / find", s_table, s_find, "");

    // ---- prune ---------------------------------------------------------
    // The files prune removes: every artifact of all but the active build
    // (the newest) and the kRetain builds before it.
    const int removed = builds - kRetain - 1;
    std::vector<std::string> rm = {"rm", "-f", "--"};
    for (int i = 0; i < removed; ++i) {
      std::string base = std::string(kLayer) + "-" + ts_of(i);
      for (const char* sfx : {".sif", ".lock", ".def"}) rm.push_back(base + sfx);
    }
    const std::vector<std::string> prune = {
        sifstore, "--root", root, "prune", kLayer, "--retain", std::to_string(kRetain)};
    Series s_prune, s_rm, s_ref_prune;
    for (int r = 0; r < runs; ++r) {
      make_store(root, builds);
      s_prune.add(run(prune).t);
      size_t left = std::distance(fs::directory_iterator(layer_dir), fs::directory_iterator());
      if (left != 3u * (kRetain + 1) + 1)  // + the layer lock
        throw std::runtime_error("sifstore prune left " + std::to_string(left) + " files");

      make_store(root, builds);
      s_rm.add(run(rm, layer_dir).t);

      if (have_reference) {
        make_store(root, builds);
        auto q = run({"python3", "-c", kPython, shim, reference, "prune", root, kLayer,
                      std::to_string(kRetain)},
                     "", true);
        Timing t;
        if (parse_python(q.out, t) != removed)
          throw std::runtime_error("the reference pruned a different number of builds");
        s_ref_prune.add(t);
      }
    }
    std::printf(
        "\nprune --retain %d (%d builds, %d files removed; the store is rewritten before "
        "each run)\n",
        kRetain, removed, 3 * removed);
    row("sifstore prune (whole process)", s_prune);
    row("rm -f of the same files (whole process)", s_rm);
    if (have_reference) {
      row("reference prune() (in python, import not counted)", s_ref_prune);
      ratio("reference / sifstore prune", s_ref_prune, s_prune, "");
    }
    ratio("sifstore prune / rm", s_prune, s_rm, "(target <= 1.5x)");
    std::printf("\n  load average at the end: %s\n", load_average().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_bench: %s\n", e.what());
    fs::remove_all(scratch);
    return 1;
  }
  fs::remove_all(scratch);
  return 0;
}
