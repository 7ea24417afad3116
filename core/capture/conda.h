// conda environments: the packages `conda list --export` prints for each
// environment of an image, with their channel (docs/DESIGN.md#capture-conda).
//
// Environments are found as conda finds them, statically: a directory is an
// environment when it holds conda-meta/history (conda's own test). The
// candidates are the parent of each PATH directory of the image's
// environment (a base prefix's bin/ or condabin/ on PATH), every directory
// directly under /opt, /usr/local, the prefixes listed in
// ~/.conda/environments.txt of /root and of each /home/<user>, and, for
// each environment found, its envs/<name>/ children (named environments).
// Each is named by its real path (symlinks resolved); a prefix holding
// white space is an Error (conda refuses such prefixes too). envs_dirs of
// a .condarc is not read (a documented divergence).
//
// The packages of an environment are its conda-meta/*.json records, each
// as `conda list --export` prints it: name=version=build. `conda list`
// also shows what pip installed into the environment (build "pypi_0");
// those are not conda's records and stay pip's ([pip], as the pip on the
// image's PATH freezes them). A record that is not a JSON object with
// string name, version and build (a truncated file) is an Error naming the
// file in the image.
//
// The channel: the record's "channel" as conda writes it (a URL such as
// https://conda.anaconda.org/conda-forge/linux-64, or a name), without the
// record's subdir at its end, without credentials (user:password@, /t/<token>),
// and https://conda.anaconda.org/ and https://repo.anaconda.com/ shortened
// away, so it reads as `conda list` shows it: "conda-forge", "pkgs/main";
// "" when the record names none.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/squashfs.h"

namespace sifstore {

// One lock line per package: "<prefix> <name>=<version>=<build> <channel>"
// (without the last field when the channel is ""); sorted (so by prefix,
// then name).
std::vector<std::string> static_conda_list(const SquashfsImage& fs);

// Exec capture: the environments `conda env list --json` prints in the
// image ({"envs": ["/opt/conda", ...]}), and the lock lines of one of them
// from `conda list --json -p PREFIX` (an array of {"name", "version",
// "build_string", "base_url", "channel", ...}): pip's entries (channel
// "pypi") are left out as in static capture, the channel is the entry's
// base_url (else its channel) as conda_channel_name() spells it. Empty
// output of `conda env list` means no environment; other output that is
// not such JSON, or a prefix or field holding white space, is an
// Error naming `source` (the command).
std::vector<std::string> conda_env_list_json(std::string_view json, const std::string& source);
std::vector<std::string> conda_list_json_lines(const std::string& prefix, std::string_view json,
                                               const std::string& source);

// The channel as the lock spells it, from a record's "channel" and "subdir".
std::string conda_channel_name(std::string_view channel, std::string_view subdir);

}  // namespace sifstore
