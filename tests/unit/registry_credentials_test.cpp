// Registry credentials: the three sources and their precedence.
#include "core/registry/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "core/error.h"
#include "support/temp_dir.h"

namespace sifstore::registry {
namespace {

using test::TempDir;
using test::write_file;

// Sets or clears the credential variables for one test.
struct Env {
  Env(const char* user, const char* pass, const char* docker_config = nullptr) {
    set("APPTAINER_DOCKER_USERNAME", user);
    set("APPTAINER_DOCKER_PASSWORD", pass);
    set("DOCKER_CONFIG", docker_config);
  }
  ~Env() {
    for (const char* k :
         {"APPTAINER_DOCKER_USERNAME", "APPTAINER_DOCKER_PASSWORD", "DOCKER_CONFIG"})
      ::unsetenv(k);
  }
  static void set(const char* k, const char* v) {
    if (v)
      ::setenv(k, v, 1);
    else
      ::unsetenv(k);
  }
};

// base64("alice:s3cret") and base64("bob:pw:with:colons")
constexpr const char* kAlice = "YWxpY2U6czNjcmV0";
constexpr const char* kBob = "Ym9iOnB3OndpdGg6Y29sb25z";

TEST(RegistryCredentials, NoneAnywhereIsAnonymous) {
  Env env(nullptr, nullptr);
  TempDir home;
  EXPECT_FALSE(find_credentials("localhost:5000", home.path()));
}

TEST(RegistryCredentials, DockerConfigByHost) {
  Env env(nullptr, nullptr);
  TempDir home;
  write_file(home / ".docker/config.json",
             std::string(R"({"auths": {"https://localhost:5000/v2/": {"auth": ")") + kBob +
                 R"("}, "other.io": {"auth": ")" + kAlice + R"("}}})");
  auto c = find_credentials("localhost:5000", home.path());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "bob");
  EXPECT_EQ(c->password, "pw:with:colons");
  EXPECT_EQ(c->source, home / ".docker/config.json");
  EXPECT_FALSE(find_credentials("localhost:5001", home.path()));
}

TEST(RegistryCredentials, DockerHubAliases) {
  Env env(nullptr, nullptr);
  TempDir home;
  write_file(
      home / ".docker/config.json",
      std::string(R"({"auths": {"https://index.docker.io/v1/": {"auth": ")") + kAlice + R"("}}})");
  for (const char* host : {"docker.io", "registry-1.docker.io", "index.docker.io"}) {
    auto c = find_credentials(host, home.path());
    ASSERT_TRUE(c) << host;
    EXPECT_EQ(c->username, "alice");
  }
}

TEST(RegistryCredentials, PrecedenceEnvThenApptainerThenDocker) {
  TempDir home;
  write_file(home / ".docker/config.json",
             std::string(R"({"auths": {"h.io": {"auth": ")") + kBob + R"("}}})");
  write_file(home / ".apptainer/docker-config.json",
             std::string(R"({"auths": {"h.io": {"auth": ")") + kAlice + R"("}}})");
  {
    Env env("envuser", "envpass");
    auto c = find_credentials("h.io", home.path());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->username, "envuser");
    EXPECT_EQ(c->password, "envpass");
  }
  {
    Env env("envuser", nullptr);  // only one of the pair: not used
    auto c = find_credentials("h.io", home.path());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->username, "alice");
    EXPECT_EQ(c->source, home / ".apptainer/docker-config.json");
  }
  {
    Env env(nullptr, nullptr);
    write_file(home / ".apptainer/docker-config.json", R"({"auths": {}})");
    auto c = find_credentials("h.io", home.path());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->username, "bob");
  }
  {
    TempDir elsewhere;
    write_file(elsewhere / "config.json",
               R"({"auths": {"h.io": {"username": "carol", "password": "pw"}}})");
    Env env(nullptr, nullptr, elsewhere.path().c_str());  // $DOCKER_CONFIG replaces ~/.docker
    auto c = find_credentials("h.io", home.path());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->username, "carol");
  }
}

TEST(RegistryCredentials, BadFilesAreErrorsThatKeepSecrets) {
  Env env(nullptr, nullptr);
  TempDir home;
  write_file(home / ".docker/config.json", "{not json s3cret");
  try {
    find_credentials("h.io", home.path());
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(home / ".docker/config.json"), std::string::npos) << m;
    EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
  }
  write_file(home / ".docker/config.json", R"({"auths": {"h.io": {"auth": "bm9jb2xvbg=="}}})");
  try {  // base64 of "nocolon"
    find_credentials("h.io", home.path());
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not base64 of user:password"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("nocolon"), std::string::npos);
  }
}

}  // namespace
}  // namespace sifstore::registry
