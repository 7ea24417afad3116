// Capturing a lock: which versions are installed in an image (SPEC §4 step 3).
//
// The reference captures a lock by running three commands inside the image
// (`apptainer exec --cleanenv --no-home IMAGE ...`):
//
//   pip freeze                      (then pip3 when pip printed nothing)
//   dpkg-query -W -f='${Package}=${Version}\n'
//   npm list -g --depth=0 --json
//
// keeping each command's output only when it succeeded. capture_exec() does
// exactly that through the builder. capture_static() computes the same
// three outputs without running anything, by reading the image's squashfs
// in place (core/squashfs.h), and feeds them to the same parsers, so both
// methods yield the same Lock for the same image:
//
// [dpkg] What dpkg-query prints: every stanza of /var/lib/dpkg/status (with
//   the pending records of /var/lib/dpkg/updates/ applied, as dpkg does)
//   whose status is not "not-installed" -- config-files and half-installed
//   packages included -- named by the bare package name (multi-arch
//   instances print the same name) and the version without a zero epoch.
//   A status file dpkg would refuse (no Package, or an installed package
//   without a valid Version) is an Error naming the line.
//
// [pip] What `pip freeze` prints, as the image runs it: the first `pip`
//   (else `pip3`) on the container's PATH (the default PATH, changed by the
//   image's /.singularity.d/env/*.sh the way Apptainer sources them); its
//   interpreter from the script's #! line; that interpreter's sys.path --
//   PYTHONPATH, a virtual environment's site-packages (pyvenv.cfg, with the
//   system's when include-system-site-packages is true), Debian's
//   dist-packages (/usr/local/lib/python3.X/dist-packages,
//   /usr/lib/python3/dist-packages) or an upstream build's
//   <prefix>/lib/python3.X/site-packages, and the directories .pth files
//   add. In each directory, the *.dist-info and *.egg-info entries in
//   directory order; the first distribution of a (normalised) name wins, as
//   in pip. A line is "Name==version" with the version normalised as PEP 440
//   and packaging print it ("Name===raw" when it is not PEP 440),
//   "Name @ url" for PEP 610 direct-URL installs (direct_url.json), and
//   "-e /path" for editable ones; pip itself is left out, and setuptools,
//   wheel and distribute too when the interpreter is older than 3.12.
//
// [node] What `npm list -g --depth=0 --json` prints: npm's global
//   node_modules (prefix from NPM_CONFIG_PREFIX, an npmrc `prefix=`, else
//   the directory above the `node` binary's bin/), each package directory
//   (and @scope/package) with the "version" of its package.json, a link's
//   "resolved": "file:<target>", and "overridden": false, in npm's shape
//   and order. Empty when npm or node is not on the PATH (the command would
//   fail); also empty when a package name is one npm rejects, since npm
//   then exits non-zero and the reference drops its output.
//
// What static capture cannot see (documented divergences): shell logic in
// the environment scripts beyond plain assignments, a pip configuration
// file or user site directory, editable installs under version control
// (pip asks git; static capture prints "-e <path>"), npm user config.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/lockfile.h"
#include "core/squashfs.h"

namespace sifstore {

enum class CaptureMethod { kStatic, kExec };

// Parses "static" or "exec"; throws Error otherwise.
CaptureMethod parse_capture_method(const std::string& word);

// A lock for the image at sif_path, with facts "image-sha256" (of the SIF
// file) and "captured-by" ("static" or "exec"; exec adds "builder").
// builder is the command line of the builder for exec ("apptainer" when
// empty), split into words like a shell does.
Lock capture_lock(const std::string& sif_path, CaptureMethod method,
                  const std::string& builder = "apptainer");

// Static capture: the three sections read from the image's primary
// squashfs partition; no facts. This is the part the benchmark times.
Lock capture_static(const SquashfsImage& fs);

// Exec capture: the three sections from running the commands inside the
// image with `<builder> exec --cleanenv --no-home SIF ...`; no facts. A
// builder that is not found is an Error saying what to install or pass.
Lock capture_exec(const std::string& sif_path, const std::string& builder = "apptainer");

// ---- the pieces, exposed for tests ------------------------------------------

// The three command outputs static capture computes (what the image would
// print), before parsing.
std::string static_dpkg_query(const SquashfsImage& fs);
std::string static_pip_freeze(const SquashfsImage& fs);
std::string static_npm_list(const SquashfsImage& fs);

// dpkg-query's output for a status file's text (and pending update
// records, applied in order). `source` names the file in errors.
std::string dpkg_query_output(std::string_view status, const std::string& source,
                              const std::vector<std::pair<std::string, std::string>>& updates = {});

// The reference's parsers of the command outputs.
std::map<std::string, std::string> parse_pip_freeze(std::string_view text);
std::map<std::string, std::string> parse_dpkg_query(std::string_view text);

// A version as packaging's Version prints it (PEP 440 normal form, e.g.
// "1.0-beta.2" -> "1.0b2", "v01.02" -> "1.2"), or nullopt when it is not a
// PEP 440 version.
std::optional<std::string> pep440_normalize(std::string_view version);

// The "pip freeze" name normalisation of PEP 503 ("Foo_Bar.baz" -> "foo-bar-baz").
std::string canonical_python_name(std::string_view name);

}  // namespace sifstore
