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
//   2. With options.pin_apt, a generated %post stanza that re-installs, at
//      the version the lock captured, every package that the final stage's
//      %post (or %appinstall) installs by name with `apt-get install` or
//      `apt install`:
//        apt-get install -y --allow-downgrades --no-install-recommends name=version ...
//      (running `apt-get update` first only when the package lists are gone,
//      and removing them again afterwards). Only the packages the def names
//      are pinned, not every dpkg package of the lock: the rest (the base
//      image's packages and the named packages' dependencies) is fixed by
//      the base (pinned by 1.) and is compared by the round-trip verify,
//      whereas pinning all of them would ask apt for packages it cannot
//      fetch (locally installed .debs, packages of which only configuration
//      files remain) and mark every package as manually installed. A name
//      that is already pinned (name=version), a .deb path, a release
//      selection (name/release), a shell expansion, or a name the lock does
//      not hold (a virtual package) is left alone.
//
//      When the final stage says `Bootstrap: debootstrap`, the whole package
//      set comes from the mirror, nothing else fixes it: the stanza pins every
//      dpkg package of the lock (whatever pin_apt says), and keeps apt's
//      auto-installed marks (apt-mark showauto before, apt-mark auto after),
//      so that the rebuild's version set is the captured one. Its suite is
//      pinned too: a moving `OSVersion:` (stable, oldstable, oldoldstable,
//      testing) is replaced by the codename of the release the lock's
//      base-files package belongs to (12.x -> bookworm, ...), preceded by a
//      comment that keeps the rough value; an Error when the lock has no
//      base-files of a known Debian release. A codename (bookworm) or a
//      '{{ build-arg }}' is left as written.
//
//   3. Always, as the reference tool does: a generated %post stanza that
//      writes every pip package of the lock that has a version into a
//      requirements file through a quoted heredoc and installs it with the
//      image's own pip (pip3, else pip) `install --no-deps`, adding
//      `--break-system-packages` only when that pip knows the option
//      (PEP 668 images: Debian 12, Ubuntu 24.04, ...). With no pip package
//      the stanza is a no-op `:`.
//
// The stanzas are appended after the rough text with its trailing newlines
// folded into one, so they land in the final stage (Apptainer concatenates
// repeated %post sections). Pip names must be PEP 508 names and versions
// free of white space; apt names and versions are shell-quoted when they
// need it.
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
  bool pin_apt = false;  // add the apt stanza (2. above)
};

std::string locked_def_text(const DefFile& rough, const Lock& lock,
                            const LockedDefOptions& options);

// The packages the final stage's %post and %appinstall sections install with
// `apt-get install` / `apt install`, in order of first mention, as written
// (with any ":arch" qualifier). What the scan understands: backslash line
// continuations, '#' comments, quotes, && || ; | separators, options before
// and after the subcommand (-y, -q, -o X=Y, -t release, ...), and a command
// prefixed by environment assignments, sudo or env.
std::vector<std::string> apt_installed_packages(const DefFile& def);

}  // namespace sifstore
