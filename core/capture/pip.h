// Python distributions: what `pip freeze` prints in an image, and the
// reference's parser of that output (docs/DESIGN.md#capture-pip).
//
// As the image runs it: the first `pip` (else `pip3`) on the container's
// PATH (core/capture/environment.h); its interpreter from the script's #!
// line; that interpreter's sys.path (core/capture/python_path.h). In each
// directory, the *.dist-info and *.egg-info entries in directory order
// (eggs after them); the first distribution of a (normalised) name wins, as
// in pip. A line is "Name==version" with the version normalised as PEP 440
// and packaging print it ("Name===raw" when it is not PEP 440), "Name @ url"
// for PEP 610 direct-URL installs (direct_url.json), and "-e /path" for
// editable ones; pip itself is left out, and setuptools, wheel and
// distribute too when the interpreter is older than 3.12.
//
// Not seen: a pip configuration file or user site directory, editable
// installs under version control (pip asks git; we print "-e <path>").
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/squashfs.h"

namespace sifstore {

// What `pip freeze` (else `pip3 freeze`) would print in the image; "" when
// neither runs or both print nothing.
std::string static_pip_freeze(const SquashfsImage& fs);

// The reference's parser of pip freeze output: lower-cased name -> version
// ("" for a line without "==").
std::map<std::string, std::string> parse_pip_freeze(std::string_view text);

// The "pip freeze" name normalisation of PEP 503 ("Foo_Bar.baz" -> "foo-bar-baz").
std::string canonical_python_name(std::string_view name);

}  // namespace sifstore
