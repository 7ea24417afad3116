// The locked definition: the rough def of a build with the versions its lock
// captured pinned in, so that rebuilding from it reproduces the image
// (docs/DESIGN.md#locked-defs).
//
// locked_def_text() returns the rough def's text, unchanged but for:
//
//   1. With options.base, for the base stage (DefFile::base_stage: the
//      final stage when it says `Bootstrap: localimage`, else the only stage
//      that does): its `From:` line is replaced by `From: <base>` (the exact
//      timestamped base SIF the build chain resolved,
//      `<root>/<base>/<base>-<ts>.sif`), preceded by a comment that keeps the
//      rough def's value. A stage without `From:` gets one after its
//      `Bootstrap:` line. It is an Error when the def has no base stage (no
//      stage bootstraps from a local image, or several do and the final one
//      does not: which one would the base be?), or when the path cannot be
//      written into a header (a '#', a line break, white space at either end).
//      With options.stage_images, each other stage named there is pinned
//      the same way (the build chain resolves every localimage stage).
//
//   2. When the final stage says `Bootstrap: debootstrap`, its suite is
//      pinned: a moving `OSVersion:` (stable, oldstable, oldoldstable,
//      testing) is replaced by the codename of the release the lock's
//      base-files package belongs to (12.x -> bookworm, ...), preceded by a
//      comment that keeps the rough value; an Error when the lock has no
//      base-files of a known Debian release. A codename (bookworm) or a
//      '{{ build-arg }}' is left as written.
//
//   3. Always: a generated %post section, the pins, placed BEFORE the final
//      stage's first %post (or at the end when it has none). Apptainer joins
//      every %post of a stage into one /bin/sh script in order (and appends
//      the %appinstall scripts to it), so the pins are in force for all of
//      the user's commands, whatever they do (`exit 0`, an unclosed
//      here-document), and the user's `%post -c SHELL` still applies. The
//      section installs nothing:
//        - it writes every pip package of the lock that has a version
//          (Name==version) into kPipConstraints and exports PIP_CONSTRAINT,
//          which every pip reads, of any interpreter or environment: each
//          `pip install` then resolves to the locked versions, dependencies
//          included (one version per name: the lock has one);
//        - with options.pin_apt, or always for `Bootstrap: debootstrap`, it
//          writes every dpkg package of the lock into kDpkgPins and an apt
//          preferences file kAptPreferences pinning each at its version
//          (`Pin: version V`, `Pin-Priority: 1001`, so also downgrades), so
//          that what %post installs with apt, and their dependencies, come at
//          the locked versions;
//        - for `Bootstrap: debootstrap`, whose base set debootstrap installed
//          before any %post, the packages installed at another version than
//          the locked one (none unless the mirror moved) are installed at
//          the locked version (`apt-get install --allow-downgrades`), keeping
//          apt's auto-installed marks.
//        - it writes every rpm package of the lock from a repository (not a
//          gpg-pubkey) as name-[epoch:]version-release.arch into kRpmPins
//          and adds `includepkgs=<them>` to [main] of the image's
//          /etc/dnf/dnf.conf and /etc/yum.conf (the regular files of them),
//          so dnf, yum and microdnf resolve only to the locked packages;
//          an EXIT trap puts the files back when the script ends;
//        - for each conda environment of the lock that exists when it runs,
//          it appends `name ==version=build` per locked package to
//          <prefix>/conda-meta/pinned, which conda and mamba honour.
//      npm has no constraint mechanism for global packages: they are not
//      pinned (the round-trip verify reports their drift). Nothing is
//      appended after the user's commands.
//
//   4. When the final stage says `Bootstrap: yum` and the lock has rpm
//      packages, its `Include:` (one is added after the Bootstrap line when
//      there is none) is led by kIncludePkgsOption with the same list:
//      Apptainer passes Include's words to the bootstrap's dnf as
//      arguments, so the bootstrap installs the locked versions,
//      dependencies included. A comment line before it keeps the rough
//      value; both are replaced when the def is locked again.
//      The section's text is recognisable: its first body line is
//      kPinsMarker and its last kPinsEnd, both comments inside it (never
//      outside a section). A def that already holds one (a locked def) gets
//      it replaced, so locking a locked def again gives the same text.
//
// Pip names must be PEP 508 names and versions free of white space; dpkg
// names and versions Debian's characters (letters, digits, + - . : ~ _);
// rpm lines letters, digits and + - . _ ~ ^ :; conda lines free of quotes,
// '$', '`' and backslashes (an Error otherwise).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/deffile.h"
#include "core/lockfile.h"

namespace sifstore {

struct LockedDefOptions {
  std::optional<std::string> base;  // exact base SIF of the base stage (1. above)
  // The exact images of the other `Bootstrap: localimage` stages, by index
  // in rough.stages: their `From:` is pinned the same way (1. above).
  std::map<size_t, std::string> stage_images;
  bool pin_apt = false;  // pin apt versions too (3. above)
};

// What the generated pins section writes in the image (it keeps them: they
// record what the build was pinned to).
constexpr const char* kPinsDir = "/etc/sifstore";
constexpr const char* kPipConstraints = "/etc/sifstore/pip-constraints.txt";
constexpr const char* kDpkgPins = "/etc/sifstore/dpkg-pins.txt";
constexpr const char* kRpmPins = "/etc/sifstore/rpm-pins.txt";
// The dnf option a `Bootstrap: yum` stage's Include: carries (4. above).
constexpr const char* kIncludePkgsOption = "--setopt=includepkgs=";
constexpr const char* kAptPreferences = "/etc/apt/preferences.d/sifstore.pref";
// The first and last body lines of the generated section.
constexpr const char* kPinsMarker =
    "# --- sifstore: pins (generated by sifstore lock def; replaced when locked again) ---";
constexpr const char* kPinsEnd = "# --- end of sifstore pins ---";

std::string locked_def_text(const DefFile& rough, const PackageLock& lock,
                            const LockedDefOptions& options);

// The packages the final stage's %post and %appinstall sections install with
// `apt-get install` / `apt install`, in order of first mention, as written
// (with any ":arch" qualifier). What the scan understands: backslash line
// continuations, '#' comments, quotes, && || ; | separators, options before
// and after the subcommand (-y, -q, -o X=Y, -t release, ...), and a command
// prefixed by environment assignments, sudo or env.
std::vector<std::string> apt_installed_packages(const DefFile& def);

}  // namespace sifstore
