// The digest resolver against a scripted registry (tests/registry/
// fake_registry.py, on 127.0.0.1): the paths a real registry in
// tests/registry does not take -- no digest header (sha256 of the body), a
// token answer with only access_token, credentials sent to the token
// endpoint, redirects, timeouts, oversized answers, error bodies.
#include "core/registry/resolve.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "core/error.h"
#include "core/sha256.h"
#include "support/temp_dir.h"

extern char** environ;

namespace sifstore::registry {
namespace {

const std::string kBody =
    R"({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"})";

class FakeRegistry : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::string script = SIFSTORE_SOURCE_DIR "/tests/registry/fake_registry.py";
    const char* argv[] = {"python3", script.c_str(), nullptr};
    int rc = posix_spawnp(&pid_, "python3", &fa, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      pid_ = 0;
      return;
    }
    FILE* f = ::fdopen(fds[0], "r");
    char line[32] = "";
    if (!std::fgets(line, sizeof line, f)) line[0] = 0;
    std::fclose(f);
    port_ = std::atoi(line);
  }
  static void TearDownTestSuite() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void SetUp() override {
    if (port_ <= 0) GTEST_SKIP() << "python3 could not start the fake registry: skipped";
    for (const char* k : {"APPTAINER_DOCKER_USERNAME", "APPTAINER_DOCKER_PASSWORD", "DOCKER_CONFIG",
                          "SIFSTORE_REGISTRY_TIMEOUT"})
      ::unsetenv(k);
    options_.plain_http = true;
    options_.home = home_.path();  // no credential files
  }
  void TearDown() override {
    for (const char* k :
         {"APPTAINER_DOCKER_USERNAME", "APPTAINER_DOCKER_PASSWORD", "SIFSTORE_REGISTRY_TIMEOUT"})
      ::unsetenv(k);
  }
  Reference ref(const std::string& repo) {
    return parse_reference("127.0.0.1:" + std::to_string(port_) + "/" + repo + "/x:1");
  }
  std::string error_of(const std::string& repo) {
    try {
      resolve_digest(ref(repo), options_);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << repo << " resolved";
    return "";
  }

  static inline pid_t pid_ = 0;
  static inline int port_ = 0;
  test::TempDir home_;
  ResolveOptions options_;
};

TEST_F(FakeRegistry, WithoutDigestHeaderTheBodyIsHashed) {
  Resolved r = resolve_digest(ref("nodigest"), options_);
  EXPECT_EQ(r.ref.digest, "sha256:" + sha256_hex(kBody));
  EXPECT_EQ(r.media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(r.auth_source, "");
}

TEST_F(FakeRegistry, IndexDigestIsTakenAsSent) {
  Resolved r = resolve_digest(ref("index"), options_);
  EXPECT_EQ(r.ref.digest, "sha256:" + sha256_hex(kBody));
  EXPECT_EQ(r.media_type, "application/vnd.oci.image.index.v1+json");
}

TEST_F(FakeRegistry, AnonymousBearerWithAccessToken) {
  Resolved r = resolve_digest(ref("bearer"), options_);
  EXPECT_EQ(r.ref.digest, "sha256:" + sha256_hex(kBody));
  EXPECT_EQ(r.auth_source, "");
}

TEST_F(FakeRegistry, BearerWithCredentialsAndRefusedCredentials) {
  ::setenv("APPTAINER_DOCKER_USERNAME", "alice", 1);
  ::setenv("APPTAINER_DOCKER_PASSWORD", "pw", 1);
  Resolved r = resolve_digest(ref("bearer"), options_);
  EXPECT_EQ(r.ref.digest, "sha256:" + sha256_hex(kBody));
  EXPECT_EQ(r.auth_source, "$APPTAINER_DOCKER_USERNAME/$APPTAINER_DOCKER_PASSWORD");
  ::setenv("APPTAINER_DOCKER_PASSWORD", "wrong-secret", 1);
  std::string e = error_of("bearer");
  EXPECT_NE(e.find("HTTP 401"), std::string::npos) << e;
  EXPECT_NE(e.find("refused the credentials from $APPTAINER_DOCKER_USERNAME"), std::string::npos)
      << e;
  EXPECT_EQ(e.find("wrong-secret"), std::string::npos) << e;
}

TEST_F(FakeRegistry, RedirectIsFollowed) {
  EXPECT_EQ(resolve_digest(ref("redirect"), options_).ref.digest, "sha256:" + sha256_hex(kBody));
}

TEST_F(FakeRegistry, Failures) {
  std::string host = "127.0.0.1:" + std::to_string(port_);
  std::string e = error_of("missing");
  EXPECT_NE(e.find("cannot resolve docker://" + host + "/missing/x:1 at registry " + host),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)"), std::string::npos) << e;
  e = error_of("badtoken");
  EXPECT_NE(e.find("sent no token"), std::string::npos) << e;
  e = error_of("huge");
  EXPECT_NE(e.find("larger than"), std::string::npos) << e;
  ::setenv("SIFSTORE_REGISTRY_TIMEOUT", "1", 1);
  e = error_of("slow");
  EXPECT_NE(e.find("timed out"), std::string::npos) << e;
  ::setenv("SIFSTORE_REGISTRY_TIMEOUT", "soon", 1);
  e = error_of("slow");
  EXPECT_NE(e.find("SIFSTORE_REGISTRY_TIMEOUT"), std::string::npos) << e;
}

TEST_F(FakeRegistry, ADigestReferenceIsNotLookedUp) {
  Reference r = parse_reference("127.0.0.1:1/none/x@sha256:" + std::string(64, 'c'));
  EXPECT_EQ(resolve_digest(r, options_).ref.digest, r.digest);  // port 1: nothing listens
}

}  // namespace
}  // namespace sifstore::registry
