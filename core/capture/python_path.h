// Where a Python interpreter in the image looks for installed
// distributions: its version (from the executable's name, pyvenv.cfg or the
// standard library directory) and the parts of sys.path that can hold
// distributions -- PYTHONPATH, a virtual environment's site-packages
// (pyvenv.cfg, with the system's when include-system-site-packages is
// true), Debian's dist-packages (/usr/local/lib/python3.X/dist-packages,
// /usr/lib/python3/dist-packages) or an upstream build's
// <prefix>/lib/python3.X/site-packages, and the directories .pth files add.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/capture/environment.h"
#include "core/squashfs.h"

namespace sifstore::capture {

struct PythonSetup {
  int major = 3, minor = 0;
  std::vector<std::string> sys_path;  // the directories pip scans, in order
};

// sys.path as the interpreter would build it (the parts that can hold
// distributions): PYTHONPATH, the site directories, and what their .pth
// files add. nullopt when `interpreter` is not a regular file or its
// version cannot be told.
std::optional<PythonSetup> python_setup(const SquashfsImage& fs, const Vars& vars,
                                        const std::string& interpreter);

}  // namespace sifstore::capture
