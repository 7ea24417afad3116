// Apptainer definition files: parsing, the host files a build reads, and the
// depfile that tells Ninja about them.
//
// One parser serves every reader of a .def in SifStore: the build chain
// (which base a `Bootstrap: localimage` stage starts from), the locked def
// (core/locked_def.h), and the depfile of `add_sif_layer` (which files a
// build copies in through %files). It follows Apptainer's own parser
// (pkg/build/types/parser/deffile.go) so that it reads a file the way
// `apptainer build` does:
//
//   - Stages. A line starting (at column 0) with "Bootstrap:", in any case,
//     starts a stage, as in a multi-stage build; the last stage is the image.
//     Only blank and '#' comment lines may come before the first one: a def
//     without a header is an Error "<path>:<line>: ...", as is an empty file.
//   - Header. "Key: value" lines up to the first section. Keys are
//     case-insensitive (stored lower-cased) and must be keys Apptainer knows
//     (bootstrap, from, stage, includecmd, mirrorurl, osversion, ...,
//     otherurl<N>); '#' starts a comment anywhere in a header line; a value
//     ending in '\' continues on the next line (a literal "\n" before it
//     becomes a newline).
//   - Sections. A line whose first word starts with '%' starts a section;
//     its name is that word without the '%'s, lower-cased, and the rest of
//     the line is its arguments ("%post -c /bin/bash", "%files from build",
//     "%appinstall myapp"). Known sections: %help %setup %files %labels
//     %environment %pre %post %runscript %test %startscript %arguments, and
//     the SCIF app sections %appinstall %applabels %appfiles %appenv %apptest
//     %apphelp %apprun %appstart (which need an app name). Any other name is
//     an Error, as Apptainer rejects it. The body is every following line up
//     to the next section or stage, verbatim.
//   - %files lines are split as Apptainer splits them: trimmed, '#' lines
//     skipped, then words that are runs of non-blank non-quote characters,
//     "double-quoted strings" (quotes trimmed) or '{{ build-arg }}'
//     templates; the first word is the source, the second the destination.
//     %appfiles lines are split at the first space, after dropping any
//     '#' comment, as Apptainer's SCIF code does.
//
// Binary data (a NUL byte) is an Error naming the file and line, as is a
// UTF-8 byte-order mark at the start (Apptainer would read it as part of the
// first line and not see its "Bootstrap:").
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sifstore {

// One "Key: value" entry of a stage header. A continued value spans
// line..end_line.
struct DefHeaderEntry {
  std::string key;    // lower-cased: "bootstrap", "from", "stage", ...
  std::string value;  // trimmed, comments removed, continuations joined
  size_t line = 0;
  size_t end_line = 0;
};

// One source/destination line of a %files or %appfiles section.
struct DefFilesEntry {
  std::string src;   // as Apptainer's parser reads it (before shell expansion)
  std::string dst;   // "" when the line names only a source
  std::string text;  // the whole trimmed line
  size_t line = 0;
};

struct DefSection {
  std::string name;      // lower-cased, without '%': "post", "files", "appinstall", ...
  std::string args;      // the rest of the section line, trimmed: "from build", "myapp"
  std::string raw_args;  // as Apptainer keeps them: everything after the first ' ', verbatim
  std::string body;      // the following lines, each ending in '\n' ('\r' dropped)
  size_t line = 0;       // the %name line
  size_t end_line = 0;
  std::vector<DefFilesEntry> files;  // %files and %appfiles only

  // A %files section that copies from the host (no "from <stage>"), as
  // Apptainer decides: its arguments, up to any '#', are empty.
  bool copies_from_host() const;
  // The stage a "%files from <stage>" section copies from: the second of
  // exactly two words of its arguments up to any '#' (Apptainer does not
  // check the first); "" otherwise (such a section copies nothing).
  std::string from_stage() const;
};

struct DefStage {
  size_t line = 0;                     // the Bootstrap line
  size_t end_line = 0;                 // the last line of the stage
  std::vector<DefHeaderEntry> header;  // in file order
  std::vector<DefSection> sections;    // in file order

  // The last entry for key (lower-case), or nullptr.
  const DefHeaderEntry* find_header(std::string_view key) const;
  // Its value, "" when absent.
  std::string header_value(std::string_view key) const;
  std::string bootstrap() const { return header_value("bootstrap"); }
  std::string from() const { return header_value("from"); }
  std::string name() const { return header_value("stage"); }
  // Whether the stage starts from a local image (`Bootstrap: localimage`;
  // the parser accepts agent names in lower case only, as Apptainer does):
  // its `From:` names a SIF on the host.
  bool from_local_image() const;
  // The defaults of the %arguments sections ("key=value" lines), which
  // fill '{{ key }}' templates unless a --build-arg overrides them.
  std::map<std::string, std::string> argument_defaults() const;
};

struct DefFile {
  std::string path;  // as given, for messages
  std::string dir;   // absolute directory of the file: relative %files sources resolve here
  std::string text;  // the whole file
  std::vector<DefStage> stages;  // at least one; back() builds the image

  const DefStage& final_stage() const { return stages.back(); }

  // The stages that start from a local image, in file order. Each one's
  // `From:` is an image a build of this def reads: in a build's locked def,
  // each pins the base build it names (prune keeps it).
  std::vector<const DefStage*> local_image_stages() const;
  // The base of a build, the stage whose `From:` the build chain resolves
  // to one exact timestamped image (FROM, `lock def --base`): the final
  // stage when it starts from a local image, else the only stage that does;
  // nullptr when none does, or several do and the final stage does not.
  const DefStage* base_stage() const;
  // base_stage(), or an Error "<path>: <what>, but ..." saying that no
  // stage says `Bootstrap: localimage`, or which stages make it ambiguous.
  const DefStage& require_base_stage(const std::string& what) const;
};

// A `From:` to set in one `Bootstrap: localimage` stage: the exact image
// (`<root>/<b>/<b>-<ts>.sif`) it starts from.
struct FromPin {
  const DefStage* stage = nullptr;  // a stage of the DefFile the pins apply to
  std::string image;
};
// The def's text with each pin applied, every other line kept byte for
// byte: the stage's `From:` entry (all its continuation lines) is replaced
// by a comment keeping the old value, "# sifstore: From pinned to the exact
// base build (rough def: <old>)", and "From: <image>"; a stage without
// `From:` gets "# sifstore: From added: the exact base build" and the line
// after its `Bootstrap:` entry. It is an Error when an image path cannot be
// written into a header (a '#', a line break, white space or '\' at an end).
std::string pin_froms(const DefFile& def, std::vector<FromPin> pins);

// Parses definition text; `path` names it in errors ("<path>:<line>: ...")
// and gives the directory relative %files sources resolve against (made
// absolute against the current directory when relative).
DefFile parse_def(std::string_view text, const std::string& path);
// Reads and parses a definition file (following a symlink the user named,
// never blocking on a FIFO).
DefFile read_def_file(const std::string& path);

// Build arguments. SifStore renders a def's '{{ name }}' templates itself
// (Apptainer 1.1 has no --build-arg), so the def it hands the builder and the
// locked def it keeps are valid for every Apptainer version and rebuild
// without arguments.
//
// A name is letters, digits and '_' (Go's \w).
bool valid_build_arg_name(std::string_view name);

struct RenderedDef {
  std::string text;                           // the def with its templates rendered
  std::map<std::string, std::string> values;  // each argument rendered -> its value
};

// Renders every '{{ name }}' as Apptainer does: the value from build_args,
// else from the stage's %arguments defaults (one level of templates inside a
// value is filled too); a template after a comment ('#' then a character
// other than '!') is left as written. Names in `kept` (secrets) stay
// templates, for the builder to fill. The %arguments sections are dropped
// (Apptainer 1.1 refuses them; nothing is left for them to fill). Errors:
// "<path>:<line>: build argument 'x' is not defined: ..." for a template
// with no value, "<path>: build argument 'x' is not used: ..." for a given
// argument (or kept name) no template names (Apptainer refuses those too), a
// value holding a line break, an invalid name. A def without templates or
// %arguments comes back byte for byte.
RenderedDef render_build_args(const DefFile& def,
                              const std::map<std::string, std::string>& build_args,
                              const std::set<std::string>& kept = {});

// One host source of a %files (or %appfiles) line.
struct DefSource {
  std::string path;      // absolute: relative sources joined to DefFile::dir, '.'/'..' folded
  bool pattern = false;  // holds unquoted glob characters (*, ?, [)
  std::string glob;      // for a pattern: path as a glob(3) pattern (quoted characters escaped)
  bool resolved = true;  // false when SifStore cannot tell which files it names
  std::string why;       // for an unresolved source: what stands in the way
  std::string src;       // as written in the def
  size_t line = 0;
};

// Every host source of every stage's %files (no "from <stage>") and
// %appfiles section, in file order. The source goes through what Apptainer
// does to it: '{{ name }}' templates filled from build_args, then the
// stage's %arguments defaults; then the shell word is unquoted (quotes,
// backslashes; a space in it is literal). A source that needs the shell
// beyond that ($VAR, `cmd`, ~, an unclosed quote, an undefined build
// argument) is returned with resolved = false.
//
// Relative sources resolve against the def's directory. (Apptainer resolves
// them against the directory `apptainer build` runs in; SifStore's build
// chain runs the builder in the def's directory so the two agree.)
std::vector<DefSource> def_sources(const DefFile& def,
                                   const std::map<std::string, std::string>& build_args = {});

// The files a build of this def reads from the host, as absolute paths, for
// a Ninja depfile: the resolved def_sources(), each directory listed with
// everything below it (Apptainer copies directories recursively; symlinks
// below a directory are listed, not followed), and for a glob pattern
// (glob(3)) its matches plus the directory it searches, so that a file
// appearing there or vanishing reruns the build. A source that does not
// exist stays listed: Ninja then reruns the build, which fails clearly.
// Sorted, without duplicates. Unresolved sources are left out (see
// def_sources() to warn about them).
std::vector<std::string> def_inputs(const DefFile& def,
                                    const std::map<std::string, std::string>& build_args = {});

// A depfile in the Make syntax Ninja reads (`deps = gcc`): "target:" and
// then each dependency on a continuation line of its own, with ' ' written
// "\ ", '#' "\#" and '$' "$$". A path Ninja 1.10+ cannot read back exactly
// (a line break, a tab or another character outside Ninja's depfile
// alphabet such as '*' or '\'', a trailing ':' or '\', a '\' before a
// special character) is an Error naming it; or, when `skipped` is given, it
// is left out and appended there (the caller can warn that a change to it
// will not rerun the build).
std::string depfile_text(const std::string& target, const std::vector<std::string>& deps,
                         std::vector<std::string>* skipped = nullptr);
// Writes depfile_text() to path as every output the user names is written
// (write_user_file: a regular file atomically, a device or FIFO into).
void write_depfile(const std::string& path, const std::string& target,
                   const std::vector<std::string>& deps,
                   std::vector<std::string>* skipped = nullptr);

}  // namespace sifstore
