// Node packages: what `npm list -g --depth=0 --json` prints in an image
// (docs/DESIGN.md#capture-npm).
//
// npm's global node_modules (prefix from NPM_CONFIG_PREFIX, an npmrc
// `prefix=`, else the directory above the `node` binary's bin/), each
// package directory (and @scope/package) with the "version" of its
// package.json, a link's "resolved": "file:<target>", and "overridden":
// false, in npm's shape and order. Empty when npm or node is not on the
// PATH (the command would fail); also empty when a package name is one npm
// rejects, since npm then exits non-zero and the reference drops its
// output. npm's user config is not read (a documented divergence).
//
// The lock keeps this JSON text as it is; core/lockfile.h reads versions
// out of it (node_versions).
#pragma once

#include <string>

#include "core/squashfs.h"

namespace sifstore {

std::string static_npm_list(const SquashfsImage& fs);

}  // namespace sifstore
