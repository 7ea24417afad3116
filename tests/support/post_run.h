// Running a definition's %post as Apptainer does, with recording stubs.
//
// post_script() joins every %post of the final stage as Apptainer's parser
// joins them (bodies concatenated in order, line ends '\n'; %appinstall
// bodies appended after it, as its SCIF code does). run_post() runs that
// script under `/bin/sh -e` in a private mount namespace (unshare -m) with a
// tmpfs on /etc and on /opt, so that what the script writes there (pip
// constraints, apt preferences, dnf configuration, conda pins) lands in the
// test, never in the machine's /etc, and with stub programs first on PATH:
// pip, pip3, python3 (`-m pip`), apt-get, apt-mark, dpkg-query, npm, conda,
// dnf, yum and microdnf. `setup` (shell) runs first, on the empty tmpfs
// (e.g. a /etc/dnf/dnf.conf, a conda environment under /opt); the files
// named in `collect` are returned as they are after the script. Each stub
// appends one record per call to the log:
//
//   <prog> <args...>
//   env PIP_CONSTRAINT=<value>
//   constraints <content of each PIP_CONSTRAINT file, ';'-joined lines>
//   show <file> <its content, ';'-joined lines>   (conda, dnf, yum, microdnf:
//                                                  each file of $STUB_SHOW)
//
// (env and constraints for pip only). The stubs succeed; dpkg-query answers
// `-W -f='${Version}' NAME` with $STUB_DPKG_<NAME with '-' '.' '+' as '_'>
// when set (installed), else fails (not installed).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/deffile.h"

namespace sifstore::test {

std::string post_script(const DefFile& def);

struct PostRun {
  int status = -1;
  std::string log;          // the stubs' records
  std::string err;          // the script's stderr
  std::string preferences;  // /etc/apt/preferences.d/sifstore.pref after the run ("" if none)
  std::string constraints;  // /etc/sifstore/pip-constraints.txt after the run ("" if none)
  std::map<std::string, std::string> files;  // the `collect` files that exist after the run
};

// False (with a reason) when this machine cannot make a private mount
// namespace (not root, no unshare).
bool can_run_post(std::string* why);

PostRun run_post(const std::string& script, const std::vector<std::string>& env = {},
                 const std::string& setup = "", const std::vector<std::string>& collect = {});

}  // namespace sifstore::test
