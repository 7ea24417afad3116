#include "core/locked_def.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/text.h"
#include "support/post_run.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;

PackageLock sample_lock() {
  PackageLock l;
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

// The generated section of a locked def: from its %post line to its end marker.
std::string pins_of(const std::string& text) {
  size_t at = text.find(std::string("%post\n    ") + kPinsMarker + "\n");
  if (at == std::string::npos) return "";
  std::string end = std::string("    ") + kPinsEnd + "\n";
  return text.substr(at, text.find(end, at) + end.size() - at);
}

TEST(LockedDef, PinsComeBeforeTheUsersPost) {
  DefFile rough = parse_def(kRough, "/p/rough.def");
  std::string text = locked_def_text(rough, sample_lock(), {});
  std::string pins = pins_of(text);
  ASSERT_NE(pins, "") << text;
  // Inserted right before the rough %post; the rest of the text unchanged.
  EXPECT_EQ(text.rfind("Bootstrap: docker\nFrom: debian:12\n\n" + pins + "%post\n    apt-get", 0),
            0u)
      << text;
  std::string without = text;
  without.erase(without.find(pins), pins.size());
  EXPECT_EQ(without, kRough);
  EXPECT_NE(pins.find("    cat > /etc/sifstore/pip-constraints.txt <<'SIFSTORE_PINS' || exit 1\n"
                      "attrs==23.1.0\nnumpy==2.1.0\nSIFSTORE_PINS\n"
                      "    export PIP_CONSTRAINT=/etc/sifstore/pip-constraints.txt\n"),
            std::string::npos)
      << pins;
  // Nothing installed, no apt pins unless asked, nothing after the user's commands.
  EXPECT_EQ(pins.find("pip install"), std::string::npos) << pins;
  EXPECT_EQ(pins.find("apt-get"), std::string::npos) << pins;
  EXPECT_EQ(pins.find("preferences"), std::string::npos) << pins;
  // Idempotent: locking the locked def gives the same text.
  EXPECT_EQ(locked_def_text(parse_def(text, "/p/locked.def"), sample_lock(), {}), text);
  // A new lock replaces the pins, not adds to them.
  PackageLock newer = sample_lock();
  newer.pip["numpy"] = "2.2.0";
  std::string relocked = locked_def_text(parse_def(text, "/p/locked.def"), newer, {});
  EXPECT_EQ(relocked, locked_def_text(rough, newer, {}));
  EXPECT_EQ(relocked.find("numpy==2.1.0"), std::string::npos);
}

TEST(LockedDef, PinsInsideTheirSectionWhenThereIsNoPost) {
  const char* rough = "Bootstrap: docker\r\nFrom: x\r\n%help\r\n  Some help.\r\n";
  std::string text = locked_def_text(parse_def(rough, "r.def"), sample_lock(), {});
  EXPECT_EQ(text.rfind(rough, 0), 0u) << text;
  DefFile locked = parse_def(text, "l.def");
  ASSERT_EQ(locked.final_stage().sections.size(), 2u);
  EXPECT_EQ(locked.final_stage().sections[0].body, "  Some help.\n") << "no comment joins %help";
  EXPECT_EQ(trim(locked.final_stage().sections[1].body.substr(0, 90)).substr(0, 20),
            std::string(kPinsMarker).substr(0, 20));
  EXPECT_EQ(locked_def_text(locked, sample_lock(), {}), text);
}

TEST(LockedDef, NoPipPackagesNoConstraint) {
  PackageLock l;
  l.pip = {{"-e git+https://x#egg=x", ""}};
  std::string text = locked_def_text(parse_def(kRough, "r.def"), l, {});
  EXPECT_NE(pins_of(text).find("    # (the lock has no pip package)\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("export PIP_CONSTRAINT"), std::string::npos);
}

TEST(LockedDef, RefusesPinsThatWouldBreakTheDef) {
  DefFile rough = parse_def(kRough, "r.def");
  PackageLock l;
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
  std::string text = locked_def_text(rough, PackageLock(), o);
  EXPECT_EQ(text.rfind("Bootstrap: localimage\n"
                       "# sifstore: From pinned to the exact base build (rough def: "
                       "../containers/base.sif)\n"
                       "From: /store/base/base-2026-0101-120000.sif\n"
                       "%post\n    # --- sifstore: pins",
                       0),
            0u)
      << text;
  EXPECT_EQ(parse_def(text, "x.def").final_stage().from(), *o.base);
  EXPECT_EQ(text.substr(text.size() - 13), "%post\n  echo\n") << text;
}

TEST(LockedDef, PinsAContinuedOrMissingFrom) {
  LockedDefOptions o;
  o.base = "/s/b/b-2026-0101-120000.sif";
  DefFile continued = parse_def(
      "Bootstrap: docker\nFrom: golang\nStage: build\n%post\n  x\n"
      "Bootstrap: localimage\nFrom: /very/long/\\\n  path.sif\nStage: final\n%post\n  y\n",
      "x.def");
  std::string text = locked_def_text(continued, PackageLock(), o);
  DefFile back = parse_def(text, "x.def");
  EXPECT_EQ(back.stages[0].from(), "golang");
  EXPECT_EQ(back.final_stage().from(), *o.base);
  EXPECT_EQ(back.final_stage().name(), "final");
  EXPECT_EQ(text.find("path.sif\n"), std::string::npos) << text;

  DefFile missing = parse_def("Bootstrap: localimage\n%post\n  y\n", "x.def");
  back = parse_def(locked_def_text(missing, PackageLock(), o), "x.def");
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
  DefFile back = parse_def(locked_def_text(two, PackageLock(), o), "x.def");
  EXPECT_EQ(back.stages[0].from(), "/s/t/t-2026-0101-000000.sif");
  EXPECT_EQ(back.final_stage().from(), *o.base);
  DefFile first =
      parse_def("Bootstrap: localimage\nFrom: b.sif\nStage: one\nBootstrap: docker\nFrom: debian\n",
                "first.def");
  back = parse_def(locked_def_text(first, PackageLock(), o), "x.def");
  EXPECT_EQ(back.stages[0].from(), *o.base);
  EXPECT_EQ(back.final_stage().from(), "debian");
}

TEST(LockedDef, BaseErrors) {
  LockedDefOptions o;
  o.base = "/s/b.sif";
  EXPECT_THROW(locked_def_text(parse_def(kRough, "r.def"), PackageLock(), o), Error);
  DefFile two = parse_def(
      "Bootstrap: localimage\nFrom: a.sif\nBootstrap: localimage\nFrom: b.sif\n"
      "Bootstrap: docker\nFrom: debian\n",
      "two.def");
  try {
    locked_def_text(two, PackageLock(), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lines 1 and 3"), std::string::npos) << e.what();
  }
  DefFile one = parse_def("Bootstrap: localimage\nFrom: a.sif\n", "one.def");
  for (const char* bad : {"/a#b.sif", "/a\nb.sif", " /a.sif", "/a.sif\\", ""}) {
    o.base = bad;
    EXPECT_THROW(locked_def_text(one, PackageLock(), o), Error) << bad;
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

TEST(LockedDef, PinsAptVersionsWhenAsked) {
  DefFile rough =
      parse_def("Bootstrap: docker\nFrom: debian:12\n%post\n  apt-get install -y curl\n", "r.def");
  LockedDefOptions o;
  o.pin_apt = true;
  std::string pins = pins_of(locked_def_text(rough, sample_lock(), o));
  EXPECT_NE(pins.find("    cat > /etc/sifstore/dpkg-pins.txt <<'SIFSTORE_PINS' || exit 1\n"
                      "curl=7.88.1-10+deb12u5\ng++=4:12.2.0-3\ngit=1:2.39.2-1.1\n"
                      "libc6=2.36-9+deb12u4\npython3-pip=23.0.1+dfsg-1\nSIFSTORE_PINS\n"),
            std::string::npos)
      << pins;
  EXPECT_NE(pins.find("> /etc/apt/preferences.d/sifstore.pref"), std::string::npos);
  EXPECT_EQ(pins.find("apt-get install"), std::string::npos) << "a docker base is not synced";
  PackageLock bad = sample_lock();
  bad.dpkg["x"] = "1 2";
  EXPECT_THROW(locked_def_text(rough, bad, o), Error);
}

TEST(LockedDef, DebootstrapPinsEveryPackageAndTheSuite) {
  DefFile rough = parse_def(
      "Bootstrap: debootstrap\nOSVersion: stable\nInclude: curl\n%post\n"
      "  apt-get install -y git\n",
      "d.def");
  PackageLock l = sample_lock();
  l.dpkg["base-files"] = "12.4+deb12u10";
  l.dpkg["gone"] = "";  // only configuration files left: nothing to pin
  std::string text = locked_def_text(rough, l, {});  // pin_apt not asked: pinned anyway
  EXPECT_NE(text.find("# sifstore: OSVersion pinned to the release built (rough def: stable)\n"
                      "OSVersion: bookworm\nInclude: curl\n"),
            std::string::npos)
      << text;
  std::string pins = pins_of(text);
  EXPECT_NE(pins.find("base-files=12.4+deb12u10\ncurl="), std::string::npos) << pins;
  EXPECT_NE(pins.find("--allow-downgrades --no-install-recommends $_sifstore_drift"),
            std::string::npos);
  EXPECT_EQ(text.find("gone="), std::string::npos);
  DefFile locked = parse_def(text, "x.def");
  EXPECT_EQ(locked.final_stage().header_value("osversion"), "bookworm");
  EXPECT_EQ(locked_def_text(locked, l, {}), text) << "idempotent";

  // A codename or a build argument is left as written.
  for (const char* suite : {"bookworm", "{{ suite }}"}) {
    std::string def = std::string("Bootstrap: debootstrap\nOSVersion: ") + suite + "\n";
    std::string t = locked_def_text(parse_def(def, "d.def"), l, {});
    EXPECT_EQ(t.substr(0, def.size()), def);
    EXPECT_EQ(t.find("OSVersion pinned"), std::string::npos);
  }
  // A moving suite without a known release in the lock cannot be pinned.
  PackageLock no_release = sample_lock();
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
                .find("preferences"),
            std::string::npos);
}

PackageLock rpm_lock() {
  PackageLock l;
  l.rpm = {"alpha=1.0-1.noarch", "beta=1:1.0-1.noarch", "gpg-pubkey=1234abcd-5f00.(none)",
           "kernel-tiny=5.14-1.x86_64", "kernel-tiny=5.15-1.x86_64"};
  return l;
}

const char* kYumRough =
    "Bootstrap: yum\n"
    "MirrorURL: http://mirror.example/el9/\n"
    "Include: dnf alpha\n"
    "\n"
    "%post\n"
    "    dnf -y install beta\n";

TEST(LockedDef, YumIncludeCarriesEveryLockedNevra) {
  std::string text = locked_def_text(parse_def(kYumRough, "y.def"), rpm_lock(), {});
  const char* include =
      "Include: --setopt=includepkgs=alpha-1.0-1.noarch,beta-1:1.0-1.noarch,"
      "kernel-tiny-5.14-1.x86_64,kernel-tiny-5.15-1.x86_64 dnf alpha\n";
  EXPECT_NE(text.find("MirrorURL: http://mirror.example/el9/\n"
                      "# sifstore: Include pinned to the locked rpm packages (rough def: dnf "
                      "alpha)\n" +
                      std::string(include)),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("gpg-pubkey"), std::string::npos) << "not from a repository";
  DefFile back = parse_def(text, "l.def");
  EXPECT_EQ(back.final_stage().header_value("include"),
            std::string(include).substr(9, std::string(include).size() - 10));
  // The generated %post holds the same NEVRAs for dnf in %post.
  EXPECT_NE(pins_of(text).find("\nalpha-1.0-1.noarch\nbeta-1:1.0-1.noarch\n"), std::string::npos);
  // Locked again: the same text (the pin is replaced, not added to).
  EXPECT_EQ(locked_def_text(back, rpm_lock(), {}), text);
  // No Include: one after the Bootstrap line.
  std::string bare = locked_def_text(
      parse_def("Bootstrap: yum\nMirrorURL: file:///r\n%post\n  true\n", "y.def"), rpm_lock(), {});
  EXPECT_EQ(bare.find("Bootstrap: yum\n# sifstore: Include pinned to the locked rpm packages "
                      "(rough def: none)\nInclude: --setopt=includepkgs=alpha-1.0-1.noarch,"),
            0u)
      << bare;
  EXPECT_EQ(locked_def_text(parse_def(bare, "l.def"), rpm_lock(), {}), bare);
}

TEST(LockedDef, OtherAgentsKeepTheirHeaderAndRefuseBadRpmLines) {
  std::string text = locked_def_text(
      parse_def("Bootstrap: docker\nFrom: rockylinux:9\n%post\n  dnf -y install alpha\n", "d.def"),
      rpm_lock(), {});
  EXPECT_EQ(text.find("Include:"), std::string::npos);
  EXPECT_NE(pins_of(text).find("includepkgs=$_sifstore_inc"), std::string::npos);
  for (const char* bad : {"a b=1-1.noarch", "alpha=1-1,x.noarch", "alpha=1-1.noarch;rm"}) {
    PackageLock l;
    l.rpm = {bad};
    EXPECT_THROW(locked_def_text(parse_def(kYumRough, "y.def"), l, {}), Error) << bad;
  }
  PackageLock c;
  c.conda = {"/opt/conda numpy=1.26.4=py$x_0"};
  EXPECT_THROW(locked_def_text(parse_def(kYumRough, "y.def"), c, {}), Error);
}

// Running the locked def's %post (all of the final stage's, joined as
// Apptainer joins them) with recording stubs.
class PinsRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!test::can_run_post(&why)) GTEST_SKIP() << why;
  }
};

TEST_F(PinsRun, EveryPipIsConstrainedBeforeTheUsersCommands) {
  std::string text = locked_def_text(parse_def(kRough, "r.def"), sample_lock(), {});
  auto r = test::run_post(test::post_script(parse_def(text, "l.def")));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.log,
            "apt-get update\napt-get install -y --no-install-recommends curl git python3-pip\n"
            "pip install numpy attrs\n"
            "env PIP_CONSTRAINT=/etc/sifstore/pip-constraints.txt\n"
            "constraints attrs==23.1.0;numpy==2.1.0;\n");
  EXPECT_EQ(r.preferences, "");
}

TEST_F(PinsRun, AptPreferencesPinEveryLockedVersion) {
  LockedDefOptions o;
  o.pin_apt = true;
  PackageLock l;
  l.dpkg = {{"curl", "7.88.1-10+deb12u5"}, {"git", "1:2.39.2-1.1"}};
  std::string text = locked_def_text(
      parse_def("Bootstrap: docker\nFrom: x\n%post\n  apt-get install -y curl\n", "r.def"), l, o);
  auto r = test::run_post(test::post_script(parse_def(text, "l.def")));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.preferences,
            "Package: curl\nPin: version 7.88.1-10+deb12u5\nPin-Priority: 1001\n\n"
            "Package: git\nPin: version 1:2.39.2-1.1\nPin-Priority: 1001\n\n");
  EXPECT_EQ(r.log, "apt-get install -y curl\n") << "installed once, by the user's command";
}

TEST_F(PinsRun, DebootstrapSyncsOnlyWhatDrifted) {
  PackageLock lock;
  lock.dpkg = {{"libc6", "2.36-9+deb12u4"}, {"zlib1g", "1:1.2.13.dfsg-1"}, {"curl", "7.88.1-10"}};
  std::string text = locked_def_text(
      parse_def("Bootstrap: debootstrap\nOSVersion: bookworm\n%post\n  exit 0\n", "d.def"), lock,
      {});
  std::string script = test::post_script(parse_def(text, "l.def"));
  // Nothing moved (curl not installed yet): no install at all.
  auto same = test::run_post(
      script, {"STUB_DPKG_libc6=2.36-9+deb12u4", "STUB_DPKG_zlib1g=1:1.2.13.dfsg-1"});
  ASSERT_EQ(same.status, 0) << same.err;
  EXPECT_EQ(same.log.find("apt-get"), std::string::npos) << same.log;
  // The mirror moved libc6: only it is brought back, the auto marks kept.
  auto moved = test::run_post(
      script, {"STUB_DPKG_libc6=2.36-9+deb12u9", "STUB_DPKG_zlib1g=1:1.2.13.dfsg-1"});
  ASSERT_EQ(moved.status, 0) << moved.err;
  // (apt-get update runs first only when /var/lib/apt/lists has no lists.)
  EXPECT_NE(moved.log.find("apt-mark showauto\n"
                           "apt-get install -y --allow-downgrades --no-install-recommends "
                           "libc6=2.36-9+deb12u4\n"),
            std::string::npos)
      << moved.log;
}

TEST_F(PinsRun, DnfSeesOnlyTheLockedRpmsUntilTheScriptEnds) {
  std::string rough = std::string(kYumRough) + "    exit 0\n";
  std::string text = locked_def_text(parse_def(rough, "y.def"), rpm_lock(), {});
  std::string script = test::post_script(parse_def(text, "l.def"));
  const char* conf = "# the image's own\n[main]\ngpgcheck=1\n\n[local]\nbaseurl=file:///r\n";
  auto r = test::run_post(
      script, {"STUB_SHOW=/etc/dnf/dnf.conf"},
      "mkdir -p /etc/dnf\ncat > /etc/dnf/dnf.conf <<'EOF'\n" + std::string(conf) + "EOF\n",
      {"/etc/dnf/dnf.conf", "/etc/sifstore/rpm-pins.txt"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.log,
            "dnf -y install beta\n"
            "show /etc/dnf/dnf.conf # the image's own;[main];includepkgs=alpha-1.0-1.noarch,"
            "beta-1:1.0-1.noarch,kernel-tiny-5.14-1.x86_64,kernel-tiny-5.15-1.x86_64;gpgcheck=1;;"
            "[local];baseurl=file:///r;\n");
  // `exit 0` ended the script: the configuration was put back all the same.
  EXPECT_EQ(r.files["/etc/dnf/dnf.conf"], conf);
  EXPECT_EQ(r.files["/etc/sifstore/rpm-pins.txt"],
            "alpha-1.0-1.noarch\nbeta-1:1.0-1.noarch\nkernel-tiny-5.14-1.x86_64\n"
            "kernel-tiny-5.15-1.x86_64\n");
  // A configuration without [main] gets one; yum's own file too.
  auto no_main = test::run_post(script, {"STUB_SHOW=/etc/yum.conf"},
                                "printf 'gpgcheck=0\n' > /etc/yum.conf\n", {"/etc/yum.conf"});
  ASSERT_EQ(no_main.status, 0) << no_main.err;
  EXPECT_NE(no_main.log.find("show /etc/yum.conf [main];includepkgs=alpha-1.0-1.noarch,"),
            std::string::npos)
      << no_main.log;
  EXPECT_EQ(no_main.files["/etc/yum.conf"], "gpgcheck=0\n");
}

TEST_F(PinsRun, CondaEnvironmentsArePinnedBeforeTheUsersCommands) {
  PackageLock l;
  l.conda = {"/opt/conda numpy=1.26.4=py311h64a7726_0 conda-forge",
             "/opt/conda python=3.11.8=hab00c5b_0_cpython conda-forge",
             "/opt/conda/envs/py39 python=3.9.18=h955ad1f_0 pkgs/main",
             "/opt/later zlib=1.2.13=h5eee18b_0"};
  std::string text =
      locked_def_text(parse_def("Bootstrap: docker\nFrom: continuumio/miniconda3\n%post\n"
                                "    conda install -y numpy\n    exit 0\n",
                                "c.def"),
                      l, {});
  const char* user_pin = "scipy 1.11.*\n";
  auto r = test::run_post(
      test::post_script(parse_def(text, "l.def")), {"STUB_SHOW=/opt/conda/conda-meta/pinned"},
      "mkdir -p /opt/conda/conda-meta /opt/conda/envs/py39/conda-meta\n"
      ": > /opt/conda/conda-meta/history\n: > /opt/conda/envs/py39/conda-meta/history\n"
      "printf '" +
          std::string(user_pin) + "' > /opt/conda/conda-meta/pinned\n",
      {"/opt/conda/conda-meta/pinned", "/opt/conda/envs/py39/conda-meta/pinned",
       "/opt/later/conda-meta/pinned"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.log,
            "conda install -y numpy\n"
            "show /opt/conda/conda-meta/pinned scipy 1.11.*;numpy ==1.26.4=py311h64a7726_0;"
            "python ==3.11.8=hab00c5b_0_cpython;\n");
  EXPECT_EQ(r.files["/opt/conda/envs/py39/conda-meta/pinned"], "python ==3.9.18=h955ad1f_0\n");
  EXPECT_EQ(r.files.count("/opt/later/conda-meta/pinned"), 0u)
      << "an environment that does not exist yet";
}

}  // namespace
}  // namespace sifstore
