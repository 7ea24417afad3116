#include "core/input_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/names.h"
#include "core/sha256.h"
#include "core/text.h"

namespace sifstore {
namespace {

constexpr std::string_view kKeyHeader = "sifstore input key 1";
constexpr std::string_view kCacheHeader = "sifstore source identities 1";

// A value on one line: '\\' and line breaks escaped.
std::string one_line(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

std::string octal(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::string input_key_text(const InputKeyParts& p) {
  std::string out(kKeyHeader);
  out += '\n';
  auto line = [&](std::string_view key, std::string_view value) {
    out.append(key).append(" ").append(one_line(value)).append("\n");
  };
  line("def", sha256_hex(p.def_text));
  for (const auto& [k, v] : p.build_args) line("build-arg", k + "=" + v);
  for (const auto& k : p.secret_names) line("secret-build-arg", k);
  line("builder", p.builder);
  for (const auto& a : p.builder_args) line("builder-arg", a);
  line("builder-version", p.builder_version);
  for (const auto& [k, v] : p.options) line("option", k + "=" + v);
  for (const auto& [stage, what] : p.bases) line("base", std::to_string(stage) + " " + what);
  for (const auto& s : p.sources) line("source", s);
  return out;
}

std::string input_key(const InputKeyParts& parts) { return sha256_hex(input_key_text(parts)); }

SourceHashCache::SourceHashCache(const Dir& root) : root_(root) {
  try {
    Fd fd(
        ::openat(root.fd(), kSourceIdentitiesFile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    stamp_sec_ = st.st_mtim.tv_sec;
    stamp_nsec_ = st.st_mtim.tv_nsec;
    std::string text = read_regular_file(fd.get(), root.path_of(kSourceIdentitiesFile), 64u << 20);
    auto lines = split(text, '\n');
    if (lines.empty() || lines[0] != kCacheHeader) return;
    // "<sha256> <inode> <size> <mtime> <ctime> <path>"; a garbled line is skipped.
    for (size_t i = 1; i < lines.size(); ++i) {
      auto f = split(lines[i], ' ');
      if (f.size() < 6 || f[0].size() != 64) continue;
      auto identity = parse_identity_fields(f[1] + " " + f[2] + " " + f[3] + " " + f[4]);
      if (!identity) continue;
      Entry e{f[0], *identity};
      size_t at = 0;
      for (int k = 0; k < 5; ++k) at = lines[i].find(' ', at) + 1;
      entries_[lines[i].substr(at)] = e;
    }
  } catch (const Error&) {
    entries_.clear();  // unreadable: hash everything
  }
}

std::string SourceHashCache::sha256_of(const std::string& path, const struct stat& st) {
  ImageIdentity now = identity_from_stat(st);
  if (auto it = entries_.find(path); it != entries_.end() && it->second.identity == now &&
                                     changed_before(now, stamp_sec_, stamp_nsec_))
    return it->second.sha256;
  std::string digest = sha256_file(path);
  ++hashed_;
  struct stat after;
  if (path.find('\n') == std::string::npos && ::lstat(path.c_str(), &after) == 0 &&
      identity_from_stat(after) == now) {
    entries_[path] = Entry{digest, now};
    dirty_ = true;
  } else {
    entries_.erase(path);
  }
  return digest;
}

void SourceHashCache::save() {
  if (!dirty_) return;
  std::string text(kCacheHeader);
  text += '\n';
  for (const auto& [path, e] : entries_) {
    text += e.sha256 + " " + identity_fields_text(e.identity) + " " + path + "\n";
  }
  try {
    root_.write_file_atomic(kSourceIdentitiesFile, text);
    dirty_ = false;
  } catch (const Error&) {
    // A store this user cannot write: the next build hashes again.
  }
}

std::vector<std::string> source_lines(const std::vector<std::string>& paths,
                                      const std::string& def_dir, SourceHashCache& cache) {
  namespace stdfs = std::filesystem;
  std::vector<std::string> out;
  std::string prefix = def_dir.empty() || def_dir.back() == '/' ? def_dir : def_dir + "/";
  for (const auto& path : paths) {
    std::string shown = !prefix.empty() && path.rfind(prefix, 0) == 0 && path.size() > prefix.size()
                            ? path.substr(prefix.size())
                            : path;
    struct stat st;
    std::string kind, mode = "-", digest = "-";
    if (::lstat(path.c_str(), &st) != 0) {
      kind = "missing";
    } else {
      mode = octal(st.st_mode);
      if (S_ISREG(st.st_mode)) {
        kind = "file";
        digest = cache.sha256_of(path, st);
      } else if (S_ISDIR(st.st_mode)) {
        kind = "dir";
      } else if (S_ISLNK(st.st_mode)) {
        kind = "link";
        std::error_code ec;
        digest = sha256_hex(stdfs::read_symlink(path, ec).string());
        // A link to a file: what the builder copies is the file's content.
        struct stat target;
        if (::stat(path.c_str(), &target) == 0 && S_ISREG(target.st_mode))
          digest += "+" + sha256_file(path);
      } else {
        kind = "other";
      }
    }
    out.push_back(kind + " " + mode + " " + digest + " " + shown);
  }
  return out;
}

}  // namespace sifstore
