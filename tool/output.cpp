#include "tool/output.h"

#include <algorithm>

namespace sifstore::tool {

void print_json(std::ostream& out, const nlohmann::json& doc) {
  out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void print_json_array(std::ostream& out, size_t n,
                      const std::function<nlohmann::json(size_t)>& element) {
  if (n == 0) {
    out << "[]\n";
    return;
  }
  out << "[\n";
  for (size_t i = 0; i < n; ++i) {
    // The element as the library lays it out inside an array: the text of a
    // one-element array without its "[\n" and "\n]".
    nlohmann::json one = nlohmann::json::array();
    one.push_back(element(i));
    std::string text = one.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    out.write(text.data() + 2, static_cast<std::streamsize>(text.size() - 4));
    out << (i + 1 < n ? ",\n" : "\n");
  }
  out << "]\n";
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

nlohmann::json build_json(const Build& b) {
  nlohmann::json j;
  j["ts"] = b.ts;
  j["sif"] = b.sif;
  j["lock"] = b.lock ? nlohmann::json(*b.lock) : nlohmann::json(nullptr);
  j["def"] = b.def ? nlohmann::json(*b.def) : nlohmann::json(nullptr);
  j["verified"] = b.verified ? nlohmann::json(*b.verified) : nlohmann::json(nullptr);
  j["keep"] = b.keep;
  j["active"] = b.active;
  return j;
}

}  // namespace sifstore::tool
