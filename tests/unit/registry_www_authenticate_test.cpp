// The WWW-Authenticate parser, on the challenges registries send (Docker
// Hub, distribution's token and htpasswd auth, GHCR, Quay) and RFC 7235's
// grammar corners.
#include "core/registry/www_authenticate.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace sifstore::registry {
namespace {

TEST(WwwAuthenticate, DockerHubBearer) {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c[0].param("service"), "registry.docker.io");
  EXPECT_EQ(c[0].param("scope"), "repository:library/python:pull");
  EXPECT_EQ(c[0].param("error"), "");
}

TEST(WwwAuthenticate, BasicWithQuotedAndTokenRealm) {
  auto q = parse_www_authenticate(R"(Basic realm="basic-realm")");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].scheme, "basic");
  EXPECT_EQ(q[0].param("realm"), "basic-realm");
  auto t = parse_www_authenticate("basic Realm=Registry");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].scheme, "basic");
  EXPECT_EQ(t[0].param("realm"), "Registry");  // names lower-cased, values as sent
}

TEST(WwwAuthenticate, QuotedStringsWithCommasEscapesAndSpaces) {
  auto c = parse_www_authenticate(
      R"(Bearer realm = "https://h/token?a=1,b=2" , scope="repository:a/b:pull,push",)"
      R"( error="insufficient_scope", error_description="say \"hi\" \\ bye")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].param("realm"), "https://h/token?a=1,b=2");
  EXPECT_EQ(c[0].param("scope"), "repository:a/b:pull,push");
  EXPECT_EQ(c[0].param("error"), "insufficient_scope");
  EXPECT_EQ(c[0].param("error_description"), R"(say "hi" \ bye)");
}

TEST(WwwAuthenticate, SeveralChallenges) {
  auto c = parse_www_authenticate(
      R"(Basic realm="x", Bearer realm="https://t/token",service="s", Negotiate)");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].param("realm"), "x");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].param("realm"), "https://t/token");
  EXPECT_EQ(c[1].param("service"), "s");
  EXPECT_EQ(c[2].scheme, "negotiate");
  EXPECT_TRUE(c[2].params.empty());
}

TEST(WwwAuthenticate, Token68AndEmptyElements) {
  auto c = parse_www_authenticate(",, Negotiate abc+/de== ,, Basic realm=r,,");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].token68, "abc+/de==");
  EXPECT_EQ(c[1].param("realm"), "r");
  EXPECT_TRUE(parse_www_authenticate("").empty());
}

TEST(WwwAuthenticate, MalformedHeadersAreErrors) {
  for (const char* h : {R"(Bearer realm="unclosed)", R"(Bearer realm="x\)", "Bearer =x",
                        R"(Bearer realm="x" service="y")", "\"Bearer\""}) {
    try {
      parse_www_authenticate(h);
      ADD_FAILURE() << "accepted " << h;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("WWW-Authenticate"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sifstore::registry
