// Registry credentials: a user name and password for one registry host,
// looked up as Apptainer looks them up, first match wins:
//
//   1. $APPTAINER_DOCKER_USERNAME and $APPTAINER_DOCKER_PASSWORD (both set;
//      Apptainer's --docker-login environment), for any registry;
//   2. the builder's `--authfile FILE` when given (it replaces Apptainer's
//      login file, as in Apptainer), else Apptainer's registry login file
//      ~/.apptainer/docker-config.json (what `apptainer registry login`
//      writes);
//   3. Docker's ~/.docker/config.json ($DOCKER_CONFIG/config.json when set).
//      Apptainer's own pulls read only 1 and 2 (containers/image is handed
//      Apptainer's file); SifStore also reads Docker's so that a
//      `docker login` suffices to resolve the digest. The builder itself
//      still needs 1 or 2 to pull.
//
// Both files use Docker's format: {"auths": {"<host>": {"auth":
// "<base64 of user:password>"}}}. A key matches the registry host with or
// without a scheme and a path ("https://host:5000/v2/" -> "host:5000");
// Docker Hub is also found under "https://index.docker.io/v1/",
// "index.docker.io", "registry-1.docker.io" and "docker.io". Entries with
// separate "username"/"password" fields are read too. Credential helpers
// (credsStore, credHelpers) are not run. A file that is not valid JSON, or
// an "auth" that is not base64 of "user:password", is an Error naming the
// file (never its content).
//
// Credentials are never written to a log, a lock, a def or an error message.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace sifstore::registry {

struct Credentials {
  std::string username;
  std::string password;
  std::string source;  // where they came from, for messages: "$APPTAINER_DOCKER_USERNAME", a path
};

// The credentials for a registry host ("docker.io", "localhost:5000"), or
// nullopt (anonymous). `home` defaults to $HOME.
// An authfile that does not exist is an Error (Apptainer's too).
std::optional<Credentials> find_credentials(
    const std::string& registry_host, const std::optional<std::string>& home = std::nullopt,
    const std::optional<std::string>& authfile = std::nullopt);

// The value of `--authfile FILE` / `--authfile=FILE` among builder arguments.
std::optional<std::string> authfile_arg(const std::vector<std::string>& build_args);

}  // namespace sifstore::registry
