#include "core/registry/credentials.h"

#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/user_file.h"

namespace sifstore::registry {
namespace {

using nlohmann::json;

std::optional<std::string> base64_decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int nbits = 0;
  size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    int v = value(in[i]);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<unsigned>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xff);
    }
  }
  for (; i < in.size(); ++i)
    if (in[i] != '=') return std::nullopt;
  return out;
}

// "https://host:5000/v1/" -> "host:5000"
std::string host_of_key(std::string key) {
  if (size_t scheme = key.find("://"); scheme != std::string::npos) key = key.substr(scheme + 3);
  if (size_t slash = key.find('/'); slash != std::string::npos) key = key.substr(0, slash);
  return key;
}

bool is_docker_hub(const std::string& host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io";
}

std::optional<Credentials> from_config(const std::string& path, const std::string& host) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  std::string text = read_user_file(path, "registry credentials file", 16u << 20);
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    throw Error("registry credentials file " + path + " is not a JSON object");
  auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) return std::nullopt;
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    std::string key_host = host_of_key(it.key());
    bool match = key_host == host || (is_docker_hub(host) && is_docker_hub(key_host));
    if (!match || !it->is_object()) continue;
    const json& entry = *it;
    Credentials c;
    c.source = path;
    if (entry.contains("auth") && entry["auth"].is_string() &&
        !entry["auth"].get<std::string>().empty()) {
      auto decoded = base64_decode(entry["auth"].get<std::string>());
      size_t colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos)
        throw Error("registry credentials file " + path + ": the \"auth\" of '" + it.key() +
                    "' is not base64 of user:password");
      c.username = decoded->substr(0, colon);
      c.password = decoded->substr(colon + 1);
      return c;
    }
    if (entry.contains("username") && entry["username"].is_string() && entry.contains("password") &&
        entry["password"].is_string()) {
      c.username = entry["username"].get<std::string>();
      c.password = entry["password"].get<std::string>();
      return c;
    }
  }
  return std::nullopt;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::optional<std::string> authfile_arg(const std::vector<std::string>& build_args) {
  std::optional<std::string> out;
  for (size_t i = 0; i < build_args.size(); ++i) {
    const std::string& a = build_args[i];
    if (a == "--authfile" && i + 1 < build_args.size())
      out = build_args[++i];
    else if (a.rfind("--authfile=", 0) == 0)
      out = a.substr(11);
  }
  return out;
}

std::optional<Credentials> find_credentials(const std::string& registry_host,
                                            const std::optional<std::string>& home_dir,
                                            const std::optional<std::string>& authfile) {
  std::string user = env("APPTAINER_DOCKER_USERNAME");
  std::string pass = env("APPTAINER_DOCKER_PASSWORD");
  if (!user.empty() && !pass.empty())
    return Credentials{user, pass, "$APPTAINER_DOCKER_USERNAME/$APPTAINER_DOCKER_PASSWORD"};
  std::string home = home_dir ? *home_dir : env("HOME");
  if (authfile) {
    struct stat st;
    if (::stat(authfile->c_str(), &st) != 0) throw system_error("--authfile " + *authfile);
    if (auto c = from_config(*authfile, registry_host)) return c;
  } else if (!home.empty()) {
    if (auto c = from_config(home + "/.apptainer/docker-config.json", registry_host)) return c;
  }
  std::string docker_dir = env("DOCKER_CONFIG");
  if (docker_dir.empty() && !home.empty()) docker_dir = home + "/.docker";
  if (!docker_dir.empty())
    if (auto c = from_config(docker_dir + "/config.json", registry_host)) return c;
  return std::nullopt;
}

}  // namespace sifstore::registry
