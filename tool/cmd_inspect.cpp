// `sifstore inspect SIF [--json]`: a SIF image's global header, its data
// object descriptors (as `siftool list` shows them, plus names and sizes),
// the primary system partition, the embedded definition file and the
// provenance SifStore embedded at build time (core/provenance.h).
#include <ctime>
#include <optional>
#include <ostream>

#include "core/error.h"
#include "core/provenance.h"
#include "core/sif.h"
#include "tool/command.h"
#include "tool/output.h"

namespace sifstore::tool {
namespace {

using nlohmann::json;

// Go's zero time.Time (what deterministic images store) and 0 mean "not set".
bool time_set(int64_t t) { return t != 0 && t != -62135596800; }

json time_json(int64_t t) { return time_set(t) ? json(t) : json(nullptr); }

std::string utc(int64_t t) {
  if (!time_set(t)) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (!::gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

json descriptor_json(const SifDescriptor& d) {
  json j;
  j["id"] = d.id;
  j["group"] = d.group_id ? json(d.group_id) : json(nullptr);
  j["link"] = d.linked_id ? json(d.linked_id) : json(nullptr);
  j["link_is_group"] = d.linked_to_group;
  j["offset"] = d.offset;
  j["size"] = d.size;
  j["type"] = d.type_text();
  j["data_type"] = sif_data_type_name(d.data_type);
  j["data_type_code"] = d.data_type;
  j["name"] = d.name;
  j["created_at"] = time_json(d.created_at);
  j["modified_at"] = time_json(d.modified_at);
  switch (d.data_type) {
    case kSifPartition:
      j["fs_type"] = sif_fs_type_name(d.fs_type);
      j["partition_type"] = sif_part_type_name(d.part_type);
      j["arch"] = d.arch;
      break;
    case kSifSignature:
      j["hash"] = sif_hash_type_name(d.hash_type);
      j["entity"] = d.entity.empty() ? json(nullptr) : json(d.entity);
      break;
    case kSifSbom:
      j["sbom_format"] = sif_sbom_format_name(d.sbom_format);
      break;
    case kSifOciRootIndex:
    case kSifOciBlob:
      j["digest"] = d.digest;
      break;
  }
  return j;
}

// The primary partition, or nullptr when there is none (or more than one):
// inspect shows what is there rather than failing.
const SifDescriptor* primary_or_null(const SifImage& sif) {
  try {
    return &sif.primary_partition();
  } catch (const Error&) {
    return nullptr;
  }
}

int cmd_inspect(Context& ctx, const std::vector<std::string>& args) {
  po::options_description d("options");
  d.add_options()("json", po::bool_switch(), "print JSON");
  auto vm = parse_options(ctx, find_command("inspect"), d, {"SIF"}, args);
  if (!vm) return 0;
  SifImage sif = SifImage::open((*vm)["SIF"].as<std::string>());
  const SifHeader& h = sif.header();
  const SifDescriptor* primary = primary_or_null(sif);
  std::optional<std::string> def = sif.definition();
  std::optional<std::string> provenance = read_embedded_provenance(sif).provenance;
  json prov = provenance ? json::parse(*provenance, nullptr, false) : json(nullptr);

  if ((*vm)["json"].as<bool>()) {
    json j;
    j["path"] = sif.path();
    j["size"] = sif.file_size();
    j["header"] = {{"launch_script", h.launch_script},
                   {"version", h.version},
                   {"arch", h.arch},
                   {"id", h.id},
                   {"created_at", time_json(h.created_at)},
                   {"modified_at", time_json(h.modified_at)},
                   {"descriptors_free", h.descriptors_free},
                   {"descriptors_total", h.descriptors_total},
                   {"descriptors_offset", h.descriptors_offset},
                   {"descriptors_size", h.descriptors_size},
                   {"data_offset", h.data_offset},
                   {"data_size", h.data_size}};
    json ds = json::array();
    for (const auto& desc : sif.descriptors()) ds.push_back(descriptor_json(desc));
    j["descriptors"] = ds;
    j["primary_partition"] = primary ? json(primary->id) : json(nullptr);
    j["definition"] = def ? json(*def) : json(nullptr);
    j["provenance"] = prov.is_discarded() ? json(*provenance) : prov;
    print_json(ctx.out, j);
    return 0;
  }

  std::vector<std::vector<std::string>> head = {
      {"SIF image:", sif.path()},
      {"Size:", std::to_string(sif.file_size()) + " bytes"},
      {"Launch script:", h.launch_script.empty() ? "-" : h.launch_script},
      {"Version:", h.version},
      {"Primary architecture:", h.arch},
      {"ID:", h.id},
      {"Created at:", utc(h.created_at)},
      {"Modified at:", utc(h.modified_at)},
      {"Descriptors:", std::to_string(h.descriptors_total - h.descriptors_free) + " used of " +
                           std::to_string(h.descriptors_total) + " (at " +
                           std::to_string(h.descriptors_offset) + ", " +
                           std::to_string(h.descriptors_size) + " bytes)"},
      {"Data:", std::to_string(h.data_size) + " bytes at " + std::to_string(h.data_offset)},
      {"Primary partition:", primary ? "ID " + std::to_string(primary->id) : "none"}};
  for (auto& row : head)
    if (!row[1].empty() && row[1].back() == '\n') row[1].pop_back();
  print_table(ctx.out, head);
  ctx.out << "\n";
  std::vector<std::vector<std::string>> rows = {
      {"ID", "GROUP", "LINK", "POSITION", "SIZE", "TYPE", "NAME"}};
  for (const auto& desc : sif.descriptors()) {
    std::string link = "NONE";
    if (desc.linked_id)
      link = std::to_string(desc.linked_id) + (desc.linked_to_group ? " (G)" : "");
    rows.push_back(
        {std::to_string(desc.id), desc.group_id ? std::to_string(desc.group_id) : "NONE", link,
         std::to_string(desc.offset) + "-" + std::to_string(desc.offset + desc.size),
         std::to_string(desc.size), desc.type_text(), desc.name.empty() ? "-" : desc.name});
  }
  print_table(ctx.out, rows);
  if (def) {
    ctx.out << "\nDefinition file (descriptor ID " << sif.find(kSifDeffile)->id << "):\n" << *def;
    if (!def->empty() && def->back() != '\n') ctx.out << "\n";
  }
  if (provenance && prov.is_object()) {
    ctx.out << "\nProvenance (embedded by SifStore):\n";
    std::vector<std::vector<std::string>> lines;
    const auto ordered = nlohmann::ordered_json::parse(*provenance);
    for (const auto& [key, value] : ordered.items()) {
      if (key == "sifstore-provenance") continue;
      std::string text = value.is_string() ? value.get<std::string>()
                         : value.is_null() ? "-"
                                           : value.dump();
      lines.push_back({"  " + key + ":", text});
    }
    print_table(ctx.out, lines);
  }
  return 0;
}

const CommandRegistration kRegistration({"inspect", "inspect SIF [--json]",
                                         "a SIF image's header, descriptors and definition",
                                         cmd_inspect});

}  // namespace
}  // namespace sifstore::tool
