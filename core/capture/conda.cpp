#include "core/capture/conda.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/capture/environment.h"
#include "core/error.h"
#include "core/lockfile.h"
#include "core/text.h"

namespace sifstore {
namespace {

using FileType = SquashfsImage::FileType;

bool is_environment(const SquashfsImage& fs, const std::string& prefix) {
  return fs.type_of(prefix + "/conda-meta/history") == FileType::kRegular;
}

std::string parent_of(const std::string& dir) {
  std::string d(trim(dir, "/") == "" ? "/" : dir);
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  size_t slash = d.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return d.substr(0, slash);
}

// Every environment of the image, by real path, sorted.
std::set<std::string> find_environments(const SquashfsImage& fs) {
  std::vector<std::string> candidates;
  capture::Vars vars = capture::image_environment(fs);
  for (const auto& dir : split(capture::var(vars, "PATH"), ':'))
    if (!dir.empty() && dir[0] == '/') candidates.push_back(parent_of(dir));
  if (auto opt = fs.list_dir("/opt"))
    for (const auto& e : *opt) candidates.push_back("/opt/" + e.name);
  candidates.push_back("/usr/local");
  std::vector<std::string> homes = {"/root"};
  if (auto home = fs.list_dir("/home"))
    for (const auto& e : *home) homes.push_back("/home/" + e.name);
  for (const auto& h : homes)
    if (auto text = fs.read_file_if_regular(h + "/.conda/environments.txt", 1u << 20))
      for (auto line : lines_of(*text)) {
        std::string_view p = trim(line);
        if (!p.empty() && p[0] == '/') candidates.emplace_back(p);
      }
  std::set<std::string> envs;
  for (const auto& c : candidates) {
    if (!is_environment(fs, c)) continue;
    auto real = fs.real_path(c);
    if (!real || !envs.insert(*real).second) continue;
    if (auto named = fs.list_dir(*real + "/envs"))
      for (const auto& e : *named) {
        std::string p = (*real == "/" ? "" : *real) + "/envs/" + e.name;
        if (!is_environment(fs, p)) continue;
        if (auto r = fs.real_path(p)) envs.insert(*r);
      }
  }
  for (const auto& e : envs)
    if (std::any_of(e.begin(), e.end(), [](char c) { return is_ascii_space(c); }))
      throw Error(fs.sif_path() + ":" + e +
                  ": a conda environment whose path holds white space (conda refuses such "
                  "prefixes; the lock cannot name it)");
  return envs;
}

std::string json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string conda_channel_name(std::string_view channel, std::string_view subdir) {
  std::string c(trim(channel));
  // Credentials never reach the lock: user:password@ and /t/<token>.
  if (size_t scheme = c.find("://"); scheme != std::string::npos) {
    size_t host = scheme + 3;
    size_t slash = c.find('/', host);
    size_t at = c.rfind('@', slash == std::string::npos ? c.size() : slash);
    if (at != std::string::npos && at >= host) c.erase(host, at + 1 - host);
  }
  for (size_t t = c.find("/t/"); t != std::string::npos; t = c.find("/t/")) {
    size_t end = c.find('/', t + 3);
    c.erase(t, end == std::string::npos ? std::string::npos : end - t);
  }
  while (!c.empty() && c.back() == '/') c.pop_back();
  if (!subdir.empty() && ends_with(c, "/" + std::string(subdir)))
    c.erase(c.size() - subdir.size() - 1);
  for (const char* base : {"https://conda.anaconda.org/", "https://repo.anaconda.com/"})
    if (starts_with(c, base) && c.size() > std::string_view(base).size())
      c.erase(0, std::string_view(base).size());
  return c;
}

std::vector<std::string> static_conda_list(const SquashfsImage& fs) {
  std::vector<std::string> lines;
  for (const auto& prefix : find_environments(fs)) {
    std::string meta = (prefix == "/" ? "" : prefix) + "/conda-meta";
    auto entries = fs.list_dir(meta);
    if (!entries) continue;
    for (const auto& e : *entries) {
      if (!ends_with(e.name, ".json")) continue;
      std::string path = meta + "/" + e.name;
      auto text = fs.read_file_if_regular(path, 64u << 20);
      if (!text) continue;
      std::string where = fs.sif_path() + ":" + path;
      nlohmann::json rec = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (rec.is_discarded() || !rec.is_object())
        throw Error(where + ": not a conda package record (not a JSON object: truncated?)");
      std::string name = json_string(rec, "name"), version = json_string(rec, "version"),
                  build = json_string(rec, "build");
      if (name.empty() || version.empty() || build.empty())
        throw Error(where + ": conda package record without a string name, version and build");
      std::string line = prefix + " " + name + "=" + version + "=" + build;
      for (const std::string* s : {&name, &version, &build})
        if (std::any_of(s->begin(), s->end(), [](char c) {
              return is_ascii_space(c) || static_cast<unsigned char>(c) < 0x20;
            }))
          throw Error(where + ": name, version or build '" + *s + "' holds white space");
      std::string channel =
          conda_channel_name(json_string(rec, "channel"), json_string(rec, "subdir"));
      if (std::any_of(channel.begin(), channel.end(), [](char c) {
            return is_ascii_space(c) || static_cast<unsigned char>(c) < 0x20;
          }))
        throw Error(where + ": channel '" + channel + "' holds white space");
      if (!channel.empty()) line += " " + channel;
      lines.push_back(std::move(line));
    }
  }
  sort_conda_lines(lines);
  return lines;
}

namespace {

bool has_space_or_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return is_ascii_space(c) || static_cast<unsigned char>(c) < 0x20;
  });
}

}  // namespace

std::vector<std::string> conda_env_list_json(std::string_view json, const std::string& source) {
  if (trim(json).empty()) return {};  // a `conda` that prints nothing: no environment
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("envs") || !j["envs"].is_array())
    throw Error(source + ": not the JSON conda prints ({\"envs\": [...]})");
  std::vector<std::string> envs;
  for (const auto& e : j["envs"]) {
    if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>()[0] != '/')
      throw Error(source + ": an environment that is not an absolute path");
    std::string p = e.get<std::string>();
    if (has_space_or_control(p))
      throw Error(source + ": a conda environment whose path holds white space ('" + p + "')");
    if (std::find(envs.begin(), envs.end(), p) == envs.end()) envs.push_back(p);
  }
  return envs;
}

std::vector<std::string> conda_list_json_lines(const std::string& prefix, std::string_view json,
                                               const std::string& source) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array())
    throw Error(source + ": not the JSON conda prints (an array of packages)");
  std::vector<std::string> lines;
  for (const auto& rec : j) {
    if (!rec.is_object()) throw Error(source + ": a package that is not a JSON object");
    if (json_string(rec, "channel") == "pypi") continue;  // pip's, in [pip]
    std::string name = json_string(rec, "name"), version = json_string(rec, "version"),
                build = json_string(rec, "build_string");
    if (name.empty() || version.empty() || build.empty())
      throw Error(source + ": a package without a string name, version and build_string");
    std::string base = json_string(rec, "base_url");
    std::string channel = conda_channel_name(base.empty() ? json_string(rec, "channel") : base, "");
    for (const std::string* f : {&name, &version, &build, &channel})
      if (has_space_or_control(*f))
        throw Error(source + ": name, version, build or channel '" + *f + "' holds white space");
    lines.push_back(prefix + " " + name + "=" + version + "=" + build +
                    (channel.empty() ? "" : " " + channel));
  }
  return lines;
}

}  // namespace sifstore
