// Name normalisation of image references, on the cases Docker's reference
// library (distribution/reference normalize_test.go) and Apptainer document.
#include "core/registry/reference.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace sifstore::registry {
namespace {

const std::string kDigest =
    "sha256:" + std::string("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");

struct Case {
  const char* in;
  const char* domain;
  const char* path;
  const char* tag;
  const char* str;
};

TEST(RegistryReference, NormalisesAsDockerDoes) {
  const Case cases[] = {
      {"python:3.11", "docker.io", "library/python", "3.11", "docker.io/library/python:3.11"},
      {"python", "docker.io", "library/python", "latest", "docker.io/library/python:latest"},
      {"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "docker.io/library/ubuntu:22.04"},
      {"library/ubuntu", "docker.io", "library/ubuntu", "latest",
       "docker.io/library/ubuntu:latest"},
      {"myorg/tool", "docker.io", "myorg/tool", "latest", "docker.io/myorg/tool:latest"},
      {"docker.io/python", "docker.io", "library/python", "latest",
       "docker.io/library/python:latest"},
      {"index.docker.io/python:3", "docker.io", "library/python", "3",
       "docker.io/library/python:3"},
      {"index.docker.io/user/app", "docker.io", "user/app", "latest", "docker.io/user/app:latest"},
      {"localhost/x", "localhost", "x", "latest", "localhost/x:latest"},
      {"localhost:5000/x/y:tag", "localhost:5000", "x/y", "tag", "localhost:5000/x/y:tag"},
      {"127.0.0.1:5000/test/base:v1", "127.0.0.1:5000", "test/base", "v1",
       "127.0.0.1:5000/test/base:v1"},
      {"ghcr.io/a/b/c:1.0", "ghcr.io", "a/b/c", "1.0", "ghcr.io/a/b/c:1.0"},
      {"quay.io/biocontainers/samtools:1.17--h00cdaf9_0", "quay.io", "biocontainers/samtools",
       "1.17--h00cdaf9_0", "quay.io/biocontainers/samtools:1.17--h00cdaf9_0"},
      {"nvcr.io/nvidia/pytorch:23.10-py3", "nvcr.io", "nvidia/pytorch", "23.10-py3",
       "nvcr.io/nvidia/pytorch:23.10-py3"},
      {"docker://alpine:3.18", "docker.io", "library/alpine", "3.18",
       "docker.io/library/alpine:3.18"},
      {"//alpine", "docker.io", "library/alpine", "latest", "docker.io/library/alpine:latest"},
      {"a.b-c.io/f_g__h---i", "a.b-c.io", "f_g__h---i", "latest", "a.b-c.io/f_g__h---i:latest"},
      {"[::1]:5000/x", "[::1]:5000", "x", "latest", "[::1]:5000/x:latest"},
      {"a/b__c/d-e.f", "docker.io", "a/b__c/d-e.f", "latest", "docker.io/a/b__c/d-e.f:latest"},
      {"Upper.host/x", "Upper.host", "x", "latest", "Upper.host/x:latest"},
  };
  for (const auto& c : cases) {
    Reference r = parse_reference(c.in);
    EXPECT_EQ(r.domain, c.domain) << c.in;
    EXPECT_EQ(r.path, c.path) << c.in;
    EXPECT_EQ(r.tag, c.tag) << c.in;
    EXPECT_EQ(r.digest, "") << c.in;
    EXPECT_EQ(r.str(), c.str) << c.in;
  }
}

TEST(RegistryReference, DockerHubApiHost) {
  EXPECT_EQ(parse_reference("python").api_host(), "registry-1.docker.io");
  EXPECT_EQ(parse_reference("registry-1.docker.io/library/python").api_host(),
            "registry-1.docker.io");
  EXPECT_EQ(parse_reference("localhost:5000/x").api_host(), "localhost:5000");
}

TEST(RegistryReference, DigestIsKept) {
  Reference r = parse_reference("python@" + kDigest);
  EXPECT_EQ(r.name(), "docker.io/library/python");
  EXPECT_EQ(r.tag, "");  // no default tag with a digest
  EXPECT_EQ(r.digest, kDigest);
  EXPECT_EQ(r.pinned(), "docker.io/library/python@" + kDigest);
  EXPECT_EQ(r.str(), "docker.io/library/python@" + kDigest);

  Reference both = parse_reference("localhost:5000/x/y:1.2@" + kDigest);
  EXPECT_EQ(both.domain, "localhost:5000");
  EXPECT_EQ(both.tag, "1.2");
  EXPECT_EQ(both.digest, kDigest);
  EXPECT_EQ(both.tagged(), "localhost:5000/x/y:1.2");
  EXPECT_EQ(both.pinned(), "localhost:5000/x/y@" + kDigest);
  EXPECT_THROW(parse_reference("python:3").pinned(), Error);
}

TEST(RegistryReference, RejectsBadReferences) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "empty"},
      {"Python", "must be lowercase"},
      {"docker.io/MyOrg/tool", "must be lowercase"},
      {"localhost:5000/X", "must be lowercase"},
      {"a//b", "empty"},
      {"a/", "empty"},
      {"/a", "empty"},
      {"-a", "not a valid path component"},
      {"a-", "not a valid path component"},
      {"a..b", "not a valid path component"},
      {"a___b", "not a valid path component"},
      {"python:", "tag"},
      {"python:-x", "tag"},
      {"python:.x", "tag"},
      {"python:a/b", "valid registry host"},
      {"python:3@sha256:abc", "digest"},
      {"python@md5:0123456789abcdef0123456789abcdef", "digest"},
      {"python@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "digest"},
      {"python@", "digest"},
      {"py thon", "white space"},
      {"host:port/x", "valid registry host"},
      {"-host.com/x", "valid registry host"},
      {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image ID"},
  };
  for (const auto& [in, why] : bad) {
    try {
      parse_reference(in);
      ADD_FAILURE() << "accepted '" << in << "'";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(why), std::string::npos) << in << ": " << msg;
      EXPECT_NE(msg.find("'" + std::string(in) + "'"), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(parse_reference("python:" + std::string(129, 'a')), Error);
  EXPECT_NO_THROW(parse_reference("python:" + std::string(128, 'a')));
  EXPECT_THROW(parse_reference("h.io/" + std::string(251, 'a')), Error);
  EXPECT_NO_THROW(parse_reference("h.io/" + std::string(250, 'a')));
}

TEST(RegistryReference, Sha256DigestShape) {
  EXPECT_TRUE(is_sha256_digest(kDigest));
  EXPECT_FALSE(is_sha256_digest(kDigest + "0"));
  EXPECT_FALSE(is_sha256_digest("sha512:" + kDigest.substr(7)));
  EXPECT_FALSE(is_sha256_digest(""));
}

}  // namespace
}  // namespace sifstore::registry
