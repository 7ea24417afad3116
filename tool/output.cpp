#include "tool/output.h"

#include <algorithm>
#include <cstring>
#include <memory>

namespace sifstore::tool {
namespace {

constexpr auto kInvalidUtf8 = nlohmann::json::error_handler_t::replace;

// Text written to a stream in blocks of kSize bytes, from one buffer: a
// `list --json` of 10,000 builds is 3 MB of small pieces.
class BlockWriter {
 public:
  static constexpr size_t kSize = 64 * 1024;
  explicit BlockWriter(std::ostream& out) : out_(out), buf_(new char[kSize]) {}
  ~BlockWriter() { flush(); }
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  void put(std::string_view s) {
    if (s.size() > kSize - used_) {
      flush();
      if (s.size() > kSize) {
        out_.write(s.data(), static_cast<std::streamsize>(s.size()));
        return;
      }
    }
    std::memcpy(buf_.get() + used_, s.data(), s.size());
    used_ += s.size();
  }
  void flush() {
    out_.write(buf_.get(), static_cast<std::streamsize>(used_));
    used_ = 0;
  }

 private:
  std::ostream& out_;
  std::unique_ptr<char[]> buf_;
  size_t used_ = 0;
};

std::string_view bool_word(bool b) { return b ? "true" : "false"; }

// s as a JSON string literal exactly as print_json writes it.
std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, kInvalidUtf8);
}

}  // namespace

void print_json(std::ostream& out, const nlohmann::json& doc) {
  out << doc.dump(2, ' ', false, kInvalidUtf8) << "\n";
}

void print_builds_json(std::ostream& out, const BuildListing& listing) {
  if (listing.builds.empty()) {
    out << "[]\n";
    return;
  }
  // Every path is file_prefix + <ts> + suffix. The prefix ends in '-' and
  // the rest is digits, '-', '.' and letters, none of which the library
  // escapes: it escapes each path as it escapes the prefix (an ASCII byte
  // ends any broken UTF-8 sequence before it) followed by the rest as it is.
  // So the prefix is escaped once, and a <ts> is printed as it is.
  std::string open_path = json_string(listing.file_prefix);
  open_path.pop_back();  // the closing '"'
  BlockWriter w(out);
  auto put_path = [&](const BuildEntry& b, Artifact a) {
    w.put(open_path);
    w.put(b.ts());
    w.put(artifact_suffix(a));
    w.put("\"");
  };
  auto put_path_or_null = [&](const BuildEntry& b, Artifact a) {
    if (b.has(a)) {
      put_path(b, a);
    } else {
      w.put("null");
    }
  };
  w.put("[\n");
  for (size_t i = 0; i < listing.builds.size(); ++i) {
    const BuildEntry& b = listing.builds[i];
    w.put("  {\n    \"ts\": \"");
    w.put(b.ts());
    w.put("\",\n    \"sif\": ");
    put_path(b, Artifact::kSif);
    w.put(",\n    \"lock\": ");
    put_path_or_null(b, Artifact::kLock);
    w.put(",\n    \"def\": ");
    put_path_or_null(b, Artifact::kDef);
    w.put(",\n    \"verified\": ");
    auto verified = b.verified();
    w.put(verified ? bool_word(*verified) : std::string_view("null"));
    w.put(",\n    \"keep\": ");
    w.put(bool_word(b.has(Artifact::kKeep)));
    w.put(",\n    \"active\": ");
    w.put(bool_word(b.active));
    w.put(i + 1 < listing.builds.size() ? "\n  },\n" : "\n  }\n");
  }
  w.put("]\n");
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string text;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      text += row[i];
      if (i + 1 < row.size()) text.append(width[i] - row[i].size() + 2, ' ');
    }
    text += '\n';
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace sifstore::tool
