#include "tool/output.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace sifstore::tool {
namespace {

constexpr auto kInvalidUtf8 = nlohmann::json::error_handler_t::replace;

// Whether nlohmann-json prints the byte as itself inside a string literal
// when it stands alone: printable ASCII other than the '"' and '\\' it
// escapes. (Control characters are escaped, bytes from 0x7f on are either
// part of UTF-8 or invalid; those strings go through the library.)
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

bool needs_no_escaping(std::string_view s) {
  for (unsigned char c : s)
    if (!kPlain[c]) return false;
  return true;
}

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
  void put_json_string(std::string_view s) {
    if (needs_no_escaping(s)) {
      put("\"");
      put(s);
      put("\"");
    } else {
      std::string text;
      append_json_string(text, s);
      put(text);
    }
  }
  void put_json_string_or_null(const std::optional<std::string>& s) {
    if (s) {
      put_json_string(*s);
    } else {
      put("null");
    }
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

}  // namespace

void print_json(std::ostream& out, const nlohmann::json& doc) {
  out << doc.dump(2, ' ', false, kInvalidUtf8) << "\n";
}

void append_json_string(std::string& out, std::string_view s) {
  if (needs_no_escaping(s)) {
    out += '"';
    out.append(s);
    out += '"';
    return;
  }
  out += nlohmann::json(std::string(s)).dump(-1, ' ', false, kInvalidUtf8);
}

void print_builds_json(std::ostream& out, const std::vector<Build>& builds) {
  if (builds.empty()) {
    out << "[]\n";
    return;
  }
  BlockWriter w(out);
  w.put("[\n");
  for (size_t i = 0; i < builds.size(); ++i) {
    const Build& b = builds[i];
    w.put("  {\n    \"ts\": ");
    w.put_json_string(b.ts);
    w.put(",\n    \"sif\": ");
    w.put_json_string(b.sif);
    w.put(",\n    \"lock\": ");
    w.put_json_string_or_null(b.lock);
    w.put(",\n    \"def\": ");
    w.put_json_string_or_null(b.def);
    w.put(",\n    \"verified\": ");
    w.put(b.verified ? bool_word(*b.verified) : std::string_view("null"));
    w.put(",\n    \"keep\": ");
    w.put(bool_word(b.keep));
    w.put(",\n    \"active\": ");
    w.put(bool_word(b.active));
    w.put(i + 1 < builds.size() ? "\n  },\n" : "\n  }\n");
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
