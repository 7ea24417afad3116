#include "core/text.h"

namespace sifstore {

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view trim(std::string_view s, std::string_view chars) {
  size_t b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(chars) - b + 1);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of("\r\n", i);
    if (j == std::string_view::npos) {
      out.push_back(text.substr(i));
      break;
    }
    out.push_back(text.substr(i, j - i));
    i = j + ((text[j] == '\r' && j + 1 < text.size() && text[j + 1] == '\n') ? 2 : 1);
  }
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find(sep, i);
    out.emplace_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& pieces, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i) out += sep;
    out += pieces[i];
  }
  return out;
}

std::optional<std::vector<std::string_view>> keyed_record_values(
    std::string_view text, std::string_view header, const std::vector<std::string_view>& keys) {
  std::vector<std::string_view> values;
  size_t pos = 0;
  for (size_t i = 0; i <= keys.size(); ++i) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (i == 0) {
      if (line != header) return std::nullopt;
      continue;
    }
    std::string_view key = keys[i - 1];
    if (line.size() <= key.size() || !starts_with(line, key) || line[key.size()] != ' ')
      return std::nullopt;
    values.push_back(line.substr(key.size() + 1));
  }
  if (pos != text.size()) return std::nullopt;
  return values;
}

}  // namespace sifstore
