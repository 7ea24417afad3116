// Input-addressed reuse: the input key of a build (docs/DESIGN.md#input-key).
//
// A build records, in its lock, the fact `# input-key: <hex>`: the sha256 of
// the canonical text input_key_text() makes of everything the build reads
// that SifStore can name before the builder runs:
//
//   sifstore input key 1
//   def <sha256>                  the rough def after build-argument rendering
//   build-arg <k>=<v>             each rendered argument (sorted by name)
//   secret-build-arg <k>          each secret's name (never its value)
//   builder <command line>        as given (--builder / $SIFSTORE_BUILDER)
//   builder-arg <word>            each extra word, in order
//   builder-version <line>        the first line of `<builder> --version`
//   option <name>=<value>         capture, pin-apt, sign, keyidx
//   base <stage> <what>           each stage's base, by 1-based stage number:
//                                 "sha256:<hex>" of a local image, the
//                                 registry digest "docker://...@sha256:..."
//                                 or "unpinned <tagged> (<why>)"
//   source <kind> <mode> <digest> <path>
//                                 each host file a %files line reads
//                                 (def_inputs(): directory trees walked):
//                                 kind file (digest: sha256 of the content),
//                                 dir, link (digest: sha256 of the target
//                                 text), missing, other; mode in octal
//                                 (permission bits); path relative to the
//                                 def's directory when below it, else
//                                 absolute.
//
// Each value is written with its line breaks escaped (input_key_text()
// escapes '\\' and '\n'), so no value can forge another line.
//
// Hashing %files trees uses the recorded-identity shortcut of `check`
// (core/image_identity.h): SourceHashCache remembers, in the store root's
// hidden `.sifstore-source-identities`, each hashed file's sha256 with its
// inode, size, mtime and ctime; a file whose identity is unchanged (and
// whose ctime predates the cache file's mtime: the racy-clean guard) is not
// read again.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/image_identity.h"

namespace sifstore {

struct InputKeyParts {
  std::string def_text;  // the rough def, build arguments rendered
  std::map<std::string, std::string> build_args;
  std::set<std::string> secret_names;
  std::string builder;
  std::vector<std::string> builder_args;
  std::string builder_version;
  std::map<std::string, std::string> options;
  std::map<size_t, std::string> bases;  // 1-based stage -> what it starts from
  std::vector<std::string> sources;     // "<kind> <mode> <digest> <path>" lines, sorted
};

// The canonical text (above) and its sha256, the key.
std::string input_key_text(const InputKeyParts& parts);
std::string input_key(const InputKeyParts& parts);

// Recorded identities of hashed host files: a cache in the store root.
class SourceHashCache {
 public:
  // Loads `<root>/.sifstore-source-identities` (absent or garbled: empty).
  explicit SourceHashCache(const Dir& root);
  // The sha256 of the regular file at `path` (absolute), whose lstat gave
  // `st`: from the record when its identity vouches, else by a full hash
  // (recorded when the file did not change while it was read).
  std::string sha256_of(const std::string& path, const struct stat& st);
  // Writes the cache back when it learnt something (best effort: a store
  // the user cannot write only costs hashing again).
  void save();
  size_t hashed() const { return hashed_; }  // full hashes done

 private:
  struct Entry {
    std::string sha256;
    ImageIdentity identity;
  };
  const Dir& root_;
  std::map<std::string, Entry> entries_;
  int64_t stamp_sec_ = 0, stamp_nsec_ = 0;  // the cache file's mtime when loaded
  bool dirty_ = false;
  size_t hashed_ = 0;
};

// The "source ..." lines for the given host paths (def_inputs() of the
// def), relative to def_dir when below it.
std::vector<std::string> source_lines(const std::vector<std::string>& paths,
                                      const std::string& def_dir, SourceHashCache& cache);

}  // namespace sifstore
