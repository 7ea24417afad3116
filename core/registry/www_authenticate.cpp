#include "core/registry/www_authenticate.h"

#include <cctype>
#include <cstring>

#include "core/error.h"

namespace sifstore::registry {
namespace {

bool tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c));
}
bool token68_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || (c != 0 && std::strchr("-._~+/", c));
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Parser {
 public:
  explicit Parser(std::string_view h) : h_(h) {}

  std::vector<Challenge> parse() {
    std::vector<Challenge> out;
    for (;;) {
      skip_list_separators();
      if (at_end()) return out;
      Challenge c;
      c.scheme = lower(token("an authentication scheme"));
      if (!at_end() && h_[i_] != ' ' && h_[i_] != '\t' && h_[i_] != ',')
        fail("expected a space after the scheme '" + c.scheme + "'");
      skip_ows();
      read_params(c);
      out.push_back(std::move(c));
    }
  }

 private:
  bool at_end() const { return i_ >= h_.size(); }
  void skip_ows() {
    while (!at_end() && (h_[i_] == ' ' || h_[i_] == '\t')) ++i_;
  }
  void skip_list_separators() {
    while (!at_end() && (h_[i_] == ' ' || h_[i_] == '\t' || h_[i_] == ',')) ++i_;
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error("malformed WWW-Authenticate header '" + std::string(h_) + "' at character " +
                std::to_string(i_ + 1) + ": " + why);
  }
  std::string token(const char* what) {
    size_t start = i_;
    while (!at_end() && tchar(h_[i_])) ++i_;
    if (i_ == start) fail(std::string("expected ") + what);
    return std::string(h_.substr(start, i_ - start));
  }
  std::string quoted() {
    ++i_;  // the opening quote
    std::string v;
    for (;;) {
      if (at_end()) fail("unclosed quoted string");
      char c = h_[i_++];
      if (c == '"') return v;
      if (c == '\\') {
        if (at_end()) fail("unclosed quoted string");
        c = h_[i_++];
      }
      v += c;
    }
  }
  // Whether a token68 ("abc+/==") stands here, ending the challenge.
  bool token68_here() const {
    size_t j = i_;
    while (j < h_.size() && token68_char(h_[j])) ++j;
    if (j == i_) return false;
    size_t k = j;
    while (k < h_.size() && h_[k] == '=') ++k;
    while (k < h_.size() && (h_[k] == ' ' || h_[k] == '\t')) ++k;
    // token68 stands alone: after it (and its '=' padding) comes the end or
    // a comma; "name=value" has something after the '='.
    return k == h_.size() || h_[k] == ',';
  }
  void read_params(Challenge& c) {
    if (at_end()) return;
    if (token68_here()) {
      size_t start = i_;
      while (!at_end() && (token68_char(h_[i_]) || h_[i_] == '=')) ++i_;
      c.token68 = std::string(h_.substr(start, i_ - start));
      return;
    }
    for (;;) {
      skip_list_separators();
      if (at_end()) return;
      // A token not followed by '=' starts the next challenge.
      size_t save = i_;
      if (!tchar(h_[i_])) fail("expected a parameter name");
      std::string name = lower(token("a parameter name"));
      skip_ows();
      if (at_end() || h_[i_] != '=') {
        i_ = save;
        return;
      }
      ++i_;
      skip_ows();
      if (at_end()) fail("parameter '" + name + "' has no value");
      std::string value = h_[i_] == '"' ? quoted() : token("a parameter value");
      c.params[name] = value;
      skip_ows();
      if (!at_end() && h_[i_] != ',') fail("expected ',' after parameter '" + name + "'");
    }
  }

  std::string_view h_;
  size_t i_ = 0;
};

}  // namespace

std::string Challenge::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

std::vector<Challenge> parse_www_authenticate(std::string_view header) {
  return Parser(header).parse();
}

}  // namespace sifstore::registry
