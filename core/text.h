// The project's one small text toolkit: byte-wise ASCII helpers shared by
// the parsers of core/ and tool/.
//
// Everything here works on bytes and the ASCII letters and white space only,
// so it is safe on any input (UTF-8 or not). Where a format follows another
// tool's notion of text (Python's str.strip() and splitlines() for the lock
// format in core/lockfile.cpp, Go's unicode.IsSpace for definition files in
// core/deffile.cpp), that file keeps its own Unicode-aware rule on purpose:
// those rules are part of the format, not copies of these.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sifstore {

// The white space of C's isspace() in the "C" locale: ' ', \t, \n, \v, \f, \r.
inline constexpr std::string_view kAsciiSpace = " \t\n\v\f\r";

bool is_ascii_space(char c);

bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

// `s` without the leading and trailing characters found in `chars`.
std::string_view trim(std::string_view s, std::string_view chars = kAsciiSpace);

// `s` with A-Z turned into a-z; every other byte as it is.
std::string to_lower(std::string_view s);

// The lines of `text`, ended by "\n", "\r\n" or a lone "\r" (the ends are
// not part of the lines). A final line end does not start an empty line;
// an empty text has no lines.
std::vector<std::string_view> lines_of(std::string_view text);

// The pieces of `s` between each `sep`: "a::b" -> {"a", "", "b"}, "" -> {""},
// "a\n" split at '\n' -> {"a", ""} (the last piece is what follows the last
// separator, possibly empty).
std::vector<std::string> split(std::string_view s, char sep);

// The pieces with `sep` between them; the inverse of split().
std::string join(const std::vector<std::string>& pieces, std::string_view sep);

// The values of a small record file SifStore writes: exactly the line
// `header`, then one line "<key> <value>" per key, in the order given, each
// ended by '\n', and nothing after. Returns the values (views into text),
// or nullopt when the text has any other shape. Strict on purpose: such a
// record (an image identity, a hold) that does not read back exactly is
// treated as absent, never half-trusted.
std::optional<std::vector<std::string_view>> keyed_record_values(
    std::string_view text, std::string_view header, const std::vector<std::string_view>& keys);

}  // namespace sifstore
