#include "core/locked_def.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/error.h"
#include "support/reference_py.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;

Lock sample_lock() {
  Lock l;
  l.pip = {{"numpy", "2.1.0"}, {"attrs", "23.1.0"}, {"-e git+https://x/y.git#egg=y", ""}};
  l.dpkg = {{"curl", "7.88.1-10+deb12u5"},
            {"git", "1:2.39.2-1.1"},
            {"g++", "4:12.2.0-3"},
            {"libc6", "2.36-9+deb12u4"},
            {"python3-pip", "23.0.1+dfsg-1"}};
  return l;
}

const char* kRough =
    "Bootstrap: docker\n"
    "From: debian:12\n"
    "\n"
    "%post\n"
    "    apt-get update && apt-get install -y --no-install-recommends \\\n"
    "        curl git python3-pip\n"
    "    pip install numpy attrs\n"
    "\n\n";

// text with every `from` replaced by `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Lines that are not comments, with the reference's file and heredoc names
// spelled as SifStore spells them: what a shell runs.
std::string commands_of(std::string text) {
  text = replace_all(text, "scitex-pins", "sifstore-pins");
  text = replace_all(text, "SCITEX_PINS", "SIFSTORE_PINS");
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t nl = text.find('\n', i);
    std::string line = text.substr(i, nl == std::string::npos ? std::string::npos : nl - i);
    i = nl == std::string::npos ? text.size() : nl + 1;
    if (line.rfind("#", 0) == 0) continue;
    out += line + "\n";
  }
  return out;
}

TEST(LockedDef, AppendsThePipStanza) {
  DefFile rough = parse_def(kRough, "/p/rough.def");
  std::string text = locked_def_text(rough, sample_lock(), {});
  // The rough text, its trailing newlines folded, then the stanza.
  ASSERT_EQ(text.rfind(std::string(kRough).substr(0, std::string(kRough).size() - 2) + "\n", 0),
            0u);
  EXPECT_NE(text.find("\n%post\n    set -e\n    cat > /tmp/sifstore-pins.txt <<'SIFSTORE_PINS'\n"
                      "attrs==23.1.0\nnumpy==2.1.0\nSIFSTORE_PINS\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"$_pip\" install --no-deps $_bsp -r /tmp/sifstore-pins.txt\n"),
            std::string::npos);
  EXPECT_EQ(text.find("apt-get install -y --allow-downgrades"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
  // The locked def is a definition file with the pins in its final stage.
  DefFile locked = parse_def(text, "/p/locked.def");
  EXPECT_EQ(locked.final_stage().sections.back().name, "post");
  // Locking twice appends again, and still parses.
  EXPECT_NO_THROW(parse_def(locked_def_text(locked, sample_lock(), {}), "x.def"));
}

TEST(LockedDef, NoPipPackagesIsANoOp) {
  Lock l;
  l.pip = {{"-e git+https://x#egg=x", ""}};
  std::string text = locked_def_text(parse_def(kRough, "r.def"), l, {});
  EXPECT_NE(text.find("%post\n    set -e\n    : # no pip packages captured\n"), std::string::npos)
      << text;
}

TEST(LockedDef, RefusesPinsThatWouldBreakTheDef) {
  DefFile rough = parse_def(kRough, "r.def");
  Lock l;
  l.pip = {{"%post", "1"}};
  EXPECT_THROW(locked_def_text(rough, l, {}), Error);
  l.pip = {{"a", "1 2"}};
  EXPECT_THROW(locked_def_text(rough, l, {}), Error);
}

TEST(LockedDef, PinsTheLocalImageBase) {
  DefFile rough = parse_def(
      "Bootstrap: localimage\n"
      "From: ../containers/base.sif   # the latest pointer\n"
      "%post\n  echo\n",
      "/p/app.def");
  LockedDefOptions o;
  o.base = "/store/base/base-2026-0101-120000.sif";
  std::string text = locked_def_text(rough, Lock(), o);
  EXPECT_EQ(text.rfind("Bootstrap: localimage\n"
                       "# sifstore: From pinned to the exact base build (rough def: "
                       "../containers/base.sif)\n"
                       "From: /store/base/base-2026-0101-120000.sif\n"
                       "%post\n  echo\n\n",
                       0),
            0u)
      << text;
  EXPECT_EQ(parse_def(text, "x.def").final_stage().from(), *o.base);
}

TEST(LockedDef, PinsAContinuedOrMissingFrom) {
  LockedDefOptions o;
  o.base = "/s/b/b-2026-0101-120000.sif";
  DefFile continued = parse_def(
      "Bootstrap: docker\nFrom: golang\nStage: build\n%post\n  x\n"
      "Bootstrap: localimage\nFrom: /very/long/\\\n  path.sif\nStage: final\n%post\n  y\n",
      "x.def");
  std::string text = locked_def_text(continued, Lock(), o);
  DefFile back = parse_def(text, "x.def");
  EXPECT_EQ(back.stages[0].from(), "golang");
  EXPECT_EQ(back.final_stage().from(), *o.base);
  EXPECT_EQ(back.final_stage().name(), "final");
  EXPECT_EQ(text.find("path.sif\n"), std::string::npos) << text;

  DefFile missing = parse_def("Bootstrap: localimage\n%post\n  y\n", "x.def");
  back = parse_def(locked_def_text(missing, Lock(), o), "x.def");
  EXPECT_EQ(back.final_stage().from(), *o.base);
}

// The base is the final stage when it starts from a local image, even when
// an earlier stage does too (that stage keeps its own `From:`); else the
// only stage that does.
TEST(LockedDef, PinsTheBaseStageOfSeveralLocalImageStages) {
  LockedDefOptions o;
  o.base = "/s/b/b-2026-0101-120000.sif";
  DefFile two = parse_def(
      "Bootstrap: localimage\nFrom: /s/t/t-2026-0101-000000.sif\nStage: one\n"
      "Bootstrap: localimage\nFrom: b.sif\n",
      "two.def");
  DefFile back = parse_def(locked_def_text(two, Lock(), o), "x.def");
  EXPECT_EQ(back.stages[0].from(), "/s/t/t-2026-0101-000000.sif");
  EXPECT_EQ(back.final_stage().from(), *o.base);
  DefFile first =
      parse_def("Bootstrap: localimage\nFrom: b.sif\nStage: one\nBootstrap: docker\nFrom: debian\n",
                "first.def");
  back = parse_def(locked_def_text(first, Lock(), o), "x.def");
  EXPECT_EQ(back.stages[0].from(), *o.base);
  EXPECT_EQ(back.final_stage().from(), "debian");
}

TEST(LockedDef, BaseErrors) {
  LockedDefOptions o;
  o.base = "/s/b.sif";
  EXPECT_THROW(locked_def_text(parse_def(kRough, "r.def"), Lock(), o), Error);
  DefFile two = parse_def(
      "Bootstrap: localimage\nFrom: a.sif\nBootstrap: localimage\nFrom: b.sif\n"
      "Bootstrap: docker\nFrom: debian\n",
      "two.def");
  try {
    locked_def_text(two, Lock(), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lines 1 and 3"), std::string::npos) << e.what();
  }
  DefFile one = parse_def("Bootstrap: localimage\nFrom: a.sif\n", "one.def");
  for (const char* bad : {"/a#b.sif", "/a\nb.sif", " /a.sif", "/a.sif\\", ""}) {
    o.base = bad;
    EXPECT_THROW(locked_def_text(one, Lock(), o), Error) << bad;
  }
}

TEST(AptPackages, FindsWhatPostInstallsByName) {
  DefFile d = parse_def(
      "Bootstrap: docker\nFrom: x\nStage: one\n%post\n  apt-get install -y notfinal\n"
      "Bootstrap: docker\nFrom: y\n"
      "%post\n"
      "  # apt-get install commented\n"
      "  apt-get update && apt-get -y -o Dpkg::Options::=--force-confnew install \\\n"
      "     curl \"git\" libfoo:amd64 && echo done\n"
      "  DEBIAN_FRONTEND=noninteractive apt install -y -t bookworm-backports g++ ; ls\n"
      "  sudo -E /usr/bin/apt-get install --no-install-recommends vim=2:9.0 ./local.deb "
      "pkg/bookworm $EXTRA 'python3-*' nano # trailing comment tar\n"
      "  apt-get remove -y emacs\n"
      "  apt-get install -y curl\n"
      "%appinstall tool\n"
      "  apt-get install -y make\n",
      "x.def");
  EXPECT_EQ(apt_installed_packages(d),
            (std::vector<std::string>{"curl", "git", "libfoo:amd64", "g++", "nano", "make"}));
}

TEST(LockedDef, PinsAptPackagesWhenAsked) {
  DefFile rough = parse_def(
      "Bootstrap: docker\nFrom: debian:12\n%post\n"
      "  apt-get install -y curl git g++ virtual-pkg libx:amd64\n",
      "r.def");
  Lock l = sample_lock();
  l.dpkg["libx"] = "1.0";
  LockedDefOptions o;
  o.pin_apt = true;
  std::string text = locked_def_text(rough, l, o);
  EXPECT_NE(text.find("    DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "
                      "--no-install-recommends \\\n"
                      "        curl=7.88.1-10+deb12u5 \\\n"
                      "        git=1:2.39.2-1.1 \\\n"
                      "        g++=4:12.2.0-3 \\\n"
                      "        libx:amd64=1.0\n"),
            std::string::npos)
      << text;
  // The apt stanza comes before the pip stanza; both land in the final stage.
  EXPECT_LT(text.find("apt-get install -y --allow-downgrades"), text.find("SIFSTORE_PINS"));
  auto posts = 0;
  DefFile locked = parse_def(text, "x.def");
  for (const auto& s : locked.final_stage().sections) posts += s.name == "post";
  EXPECT_EQ(posts, 3);

  // Nothing to pin: a no-op stanza.
  DefFile none = parse_def("Bootstrap: docker\nFrom: x\n%post\n  echo\n", "n.def");
  EXPECT_NE(locked_def_text(none, l, o).find("    : # no apt-installed packages to pin\n"),
            std::string::npos);
}

TEST(LockedDef, DebootstrapPinsEveryPackageAndTheSuite) {
  DefFile rough = parse_def(
      "Bootstrap: debootstrap\nOSVersion: stable\nInclude: curl\n%post\n"
      "  apt-get install -y git\n",
      "d.def");
  Lock l = sample_lock();
  l.dpkg["base-files"] = "12.4+deb12u10";
  l.dpkg["gone"] = "";  // only configuration files left: nothing to pin
  std::string text = locked_def_text(rough, l, {});  // pin_apt not asked: pinned anyway
  EXPECT_NE(text.find("# sifstore: OSVersion pinned to the release built (rough def: stable)\n"
                      "OSVersion: bookworm\nInclude: curl\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("    _sifstore_auto=\"$(apt-mark showauto)\"\n"
                      "    DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "
                      "--no-install-recommends \\\n"
                      "        base-files=12.4+deb12u10 \\\n"
                      "        curl=7.88.1-10+deb12u5 \\\n"
                      "        g++=4:12.2.0-3 \\\n"
                      "        git=1:2.39.2-1.1 \\\n"
                      "        libc6=2.36-9+deb12u4 \\\n"
                      "        python3-pip=23.0.1+dfsg-1\n"
                      "    if [ -n \"$_sifstore_auto\" ]; then apt-mark auto $_sifstore_auto "
                      ">/dev/null; fi\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("gone="), std::string::npos);
  DefFile locked = parse_def(text, "x.def");
  EXPECT_EQ(locked.final_stage().header_value("osversion"), "bookworm");

  // A codename or a build argument is left as written.
  for (const char* suite : {"bookworm", "{{ suite }}"}) {
    std::string def = std::string("Bootstrap: debootstrap\nOSVersion: ") + suite + "\n";
    std::string t = locked_def_text(parse_def(def, "d.def"), l, {});
    EXPECT_EQ(t.substr(0, def.size()), def);
    EXPECT_EQ(t.find("OSVersion pinned"), std::string::npos);
  }
  // A moving suite without a known release in the lock cannot be pinned.
  Lock no_release = sample_lock();
  try {
    locked_def_text(rough, no_release, {});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d.def:2: cannot pin 'OSVersion: stable'"),
              std::string::npos)
        << e.what();
  }
  no_release.dpkg["base-files"] = "99.1";
  EXPECT_THROW(locked_def_text(rough, no_release, {}), Error);
  // Another bootstrap agent keeps the old rule: apt pins only when asked.
  EXPECT_EQ(locked_def_text(parse_def("Bootstrap: docker\nFrom: x\n", "x.def"), l, {})
                .find("apt-get install"),
            std::string::npos);
}

// Running the generated %post stanzas with stand-in pip and apt-get.
class StanzaRun : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_file(
        t_ / "bin/pip3",
        "#!/bin/sh\n"
        "if [ \"$1 $2\" = \"install --help\" ]; then\n"
        "  [ -n \"$PIP_KNOWS_BSP\" ] && echo '  --break-system-packages  ok'\n"
        "  exit 0\nfi\n"
        "echo \"pip $*\" | sed 's/-r [^ ]*/-r FILE/' >> \"$LOG\"\n"
        "while [ $# -gt 0 ]; do [ \"$1\" = -r ] && cat \"$2\" >> \"$LOG\"; shift; done\n"
        "exit 0\n");
    test::write_file(t_ / "bin/apt-get", "#!/bin/sh\necho \"apt-get $*\" >> \"$LOG\"\n");
    ::chmod((t_ / "bin/pip3").c_str(), 0755);
    ::chmod((t_ / "bin/apt-get").c_str(), 0755);
  }

  // Runs the %post sections SifStore generated (the rough def's own %post is
  // left out), with /tmp and /var/lib/apt/lists moved into the test's
  // directory. Returns the log of pip and apt-get calls.
  std::string run_generated(const std::string& locked_text, size_t rough_posts,
                            const std::vector<std::string>& env = {}) {
    DefFile d = parse_def(locked_text, "x.def");
    std::string script;
    size_t n = 0;
    for (const auto& s : d.final_stage().sections)
      if (s.name == "post" && n++ >= rough_posts) script += s.body;
    script = replace_all(script, "/tmp/", t_ / "tmp/");
    script = replace_all(script, "/var/lib/apt/lists", t_ / "lists");
    test::write_file(t_ / "tmp/.keep", "");
    test::write_file(t_ / "post.sh", script);
    std::vector<std::string> e = {"PATH=" + (t_ / "bin") + ":/usr/bin:/bin", "LOG=" + (t_ / "log")};
    e.insert(e.end(), env.begin(), env.end());
    ::unlink((t_ / "log").c_str());
    auto r = test::run({"/bin/sh", "-e", t_ / "post.sh"}, e);
    EXPECT_EQ(r.status, 0) << r.err << script;
    EXPECT_FALSE(test::exists(t_ / "tmp/sifstore-pins.txt"));  // cleaned up
    return test::exists(t_ / "log") ? test::read_file(t_ / "log") : "";
  }

  TempDir t_;
};

TEST_F(StanzaRun, PipStanzaPinsWithThePipOfTheImage) {
  std::string text = locked_def_text(parse_def(kRough, "r.def"), sample_lock(), {});
  EXPECT_EQ(run_generated(text, 1), "pip install --no-deps -r FILE\nattrs==23.1.0\nnumpy==2.1.0\n");
  EXPECT_EQ(run_generated(text, 1, {"PIP_KNOWS_BSP=1"}),
            "pip install --no-deps --break-system-packages -r FILE\nattrs==23.1.0\nnumpy==2.1.0\n");
}

TEST_F(StanzaRun, AptStanzaUpdatesOnlyWithoutPackageLists) {
  DefFile rough = parse_def(
      "Bootstrap: docker\nFrom: x\n%post\n  apt-get install -y curl git\n  rm -rf "
      "/var/lib/apt/lists/*\n",
      "r.def");
  LockedDefOptions o;
  o.pin_apt = true;
  Lock lock = sample_lock();
  lock.pip.clear();
  std::string text = locked_def_text(rough, lock, o);
  std::string want_install =
      "apt-get install -y --allow-downgrades --no-install-recommends curl=7.88.1-10+deb12u5 "
      "git=1:2.39.2-1.1\n";
  EXPECT_EQ(run_generated(text, 1), "apt-get update\n" + want_install)
      << "package lists missing: update first";
  std::string lists = t_ / "lists/deb.debian.org_dists_bookworm_main_binary-amd64_Packages";
  test::write_file(lists, "");
  EXPECT_EQ(run_generated(text, 1), want_install) << "package lists there: no update";
  EXPECT_TRUE(test::exists(lists)) << "lists that were there stay";
}

TEST_F(StanzaRun, DebootstrapStanzaKeepsAutoMarks) {
  test::write_file(t_ / "bin/apt-mark",
                   "#!/bin/sh\necho \"apt-mark $*\" >> \"$LOG\"\n"
                   "[ \"$1\" = showauto ] && printf 'libc6\\nzlib1g\\n'\nexit 0\n");
  ::chmod((t_ / "bin/apt-mark").c_str(), 0755);
  Lock lock;
  lock.dpkg = {{"libc6", "2.36-9+deb12u4"}, {"zlib1g", "1:1.2.13.dfsg-1"}};
  std::string text = locked_def_text(
      parse_def("Bootstrap: debootstrap\nOSVersion: bookworm\n", "d.def"), lock, {});
  EXPECT_EQ(run_generated(text, 0),
            "apt-get update\n"
            "apt-mark showauto\n"
            "apt-get install -y --allow-downgrades --no-install-recommends libc6=2.36-9+deb12u4 "
            "zlib1g=1:1.2.13.dfsg-1\n"
            "apt-mark auto libc6 zlib1g\n");
}

TEST_F(StanzaRun, SameCommandsAsTheReference) {
  test::ReferencePython ref;
  if (!ref.unavailable().empty()) GTEST_SKIP() << ref.unavailable() << ": skipped";
  for (const Lock& lock : {sample_lock(), Lock()}) {
    test::write_file(t_ / "rough.def", kRough);
    write_lock_file(Dir::open(t_.path()), "x.lock", lock);
    std::string error;
    ref.run({"locked-def", t_ / "rough.def", t_ / "x.lock", t_ / "ref.def"}, &error);
    ASSERT_EQ(error, "");
    std::string theirs = test::read_file(t_ / "ref.def");
    std::string ours = locked_def_text(read_def_file(t_ / "rough.def"), lock, {});
    EXPECT_EQ(commands_of(ours), commands_of(theirs)) << ours << "\n----\n" << theirs;
    EXPECT_EQ(run_generated(ours, 1), run_generated(theirs, 1));
  }
}

}  // namespace
}  // namespace sifstore
