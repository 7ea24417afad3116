#include "core/capture/pep440.h"

#include <algorithm>
#include <vector>

#include "core/text.h"

namespace sifstore {
namespace {

// A version taken apart by PEP 440's grammar (packaging's VERSION_PATTERN).
struct Pep440 {
  std::string epoch;
  std::vector<std::string> release;
  std::string pre_label, pre_number;  // pre_label empty: no pre-release
  std::optional<std::string> post, dev, local;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_sep(char c) { return c == '-' || c == '_' || c == '.'; }

// A backtracking matcher with the regular expression's preferences: an
// optional part is tried present first, alternatives in pattern order, so
// the result is the one re.match would find. `v` is lower-cased.
class Pep440Parser {
 public:
  explicit Pep440Parser(std::string v) : v_(std::move(v)) {}

  std::optional<Pep440> parse() {
    size_t i = 0;
    if (i < v_.size() && v_[i] == 'v') ++i;
    size_t j = i;
    std::string digits = take_digits(j);
    if (digits.empty()) return std::nullopt;
    if (j < v_.size() && v_[j] == '!') {
      p_.epoch = digits;
      i = j + 1;
    }
    // The release: numbers joined by '.', as many as there are.
    std::string first = take_digits(i);
    if (first.empty()) return std::nullopt;
    p_.release.push_back(first);
    while (i + 1 < v_.size() && v_[i] == '.' && is_digit(v_[i + 1])) {
      ++i;
      p_.release.push_back(take_digits(i));
    }
    if (pre(i)) return p_;
    return std::nullopt;
  }

 private:
  std::string take_digits(size_t& i) const {
    size_t start = i;
    while (i < v_.size() && is_digit(v_[i])) ++i;
    return v_.substr(start, i - start);
  }
  bool word_at(size_t i, std::string_view w) const { return v_.compare(i, w.size(), w) == 0; }

  // [-_.]?(label)[-_.]?(N)? then what follows, or nothing then what follows.
  bool labelled(size_t i, const std::vector<std::string_view>& labels, std::string* label,
                std::string* number, bool (Pep440Parser::*next)(size_t)) {
    for (size_t s0 : {size_t(1), size_t(0)}) {
      if (s0 && !(i < v_.size() && is_sep(v_[i]))) continue;
      size_t a = i + s0;
      for (auto l : labels) {
        if (!word_at(a, l)) continue;
        size_t b = a + l.size();
        for (size_t s1 : {size_t(1), size_t(0)}) {
          if (s1 && !(b < v_.size() && is_sep(v_[b]))) continue;
          size_t c = b + s1;
          std::string n = take_digits(c);
          *label = std::string(l);
          *number = n;
          if ((this->*next)(c)) return true;
        }
      }
    }
    label->clear();
    number->clear();
    return (this->*next)(i);
  }

  bool pre(size_t i) {
    return labelled(i, {"a", "b", "c", "rc", "alpha", "beta", "pre", "preview"}, &p_.pre_label,
                    &p_.pre_number, &Pep440Parser::post);
  }
  bool post(size_t i) {
    // "-N" first, then [-_.]?(post|rev|r)[-_.]?N?, then none.
    if (i + 1 < v_.size() && v_[i] == '-' && is_digit(v_[i + 1])) {
      size_t j = i + 1;
      std::string n = take_digits(j);
      if (dev(j)) {
        p_.post = n;
        return true;
      }
    }
    return optional_part(i, {"post", "rev", "r"}, &p_.post, &Pep440Parser::dev);
  }
  bool dev(size_t i) { return optional_part(i, {"dev"}, &p_.dev, &Pep440Parser::local); }

  // A labelled part that may be absent: `part` holds its number ("" when
  // none is written) when the label is there, and is reset when it is not.
  bool optional_part(size_t i, const std::vector<std::string_view>& labels,
                     std::optional<std::string>* part, bool (Pep440Parser::*next)(size_t)) {
    std::string label, number;
    if (!labelled(i, labels, &label, &number, next)) return false;
    if (label.empty())
      part->reset();
    else
      *part = number;
    return true;
  }
  bool local(size_t i) {
    if (i < v_.size() && v_[i] == '+') {
      // [a-z0-9]+([-_.][a-z0-9]+)* to the end.
      size_t j = i + 1;
      bool need_alnum = true;
      for (; j < v_.size(); ++j) {
        char c = v_[j];
        bool alnum = is_digit(c) || (c >= 'a' && c <= 'z');
        if (alnum) {
          need_alnum = false;
        } else if (is_sep(c) && !need_alnum) {
          need_alnum = true;
        } else {
          break;
        }
      }
      if (j == v_.size() && !need_alnum) {
        p_.local = v_.substr(i + 1);
        return true;
      }
    }
    p_.local.reset();
    return i == v_.size();
  }

  std::string v_;
  Pep440 p_;
};

std::string pep440_number(const std::string& s) {
  size_t nz = s.find_first_not_of('0');
  return nz == std::string::npos ? std::string("0") : s.substr(nz);
}

}  // namespace

std::optional<std::string> pep440_normalize(std::string_view version) {
  auto p = Pep440Parser(to_lower(trim(version))).parse();
  if (!p) return std::nullopt;
  std::string out;
  if (!p->epoch.empty() && pep440_number(p->epoch) != "0") out += pep440_number(p->epoch) + "!";
  for (size_t i = 0; i < p->release.size(); ++i)
    out += (i ? "." : "") + pep440_number(p->release[i]);
  if (!p->pre_label.empty()) {
    std::string l = p->pre_label;
    if (l == "alpha")
      l = "a";
    else if (l == "beta")
      l = "b";
    else if (l == "c" || l == "pre" || l == "preview")
      l = "rc";
    out += l + (p->pre_number.empty() ? "0" : pep440_number(p->pre_number));
  }
  if (p->post) out += ".post" + (p->post->empty() ? "0" : pep440_number(*p->post));
  if (p->dev) out += ".dev" + (p->dev->empty() ? "0" : pep440_number(*p->dev));
  if (p->local) {
    std::string local, part;
    auto flush = [&]() {
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(), is_digit);
      local += (local.empty() ? "" : ".") + (digits ? pep440_number(part) : part);
      part.clear();
    };
    for (char c : *p->local) {
      if (is_sep(c))
        flush();
      else
        part += c;
    }
    flush();
    out += "+" + local;
  }
  return out;
}

}  // namespace sifstore
