// Build arguments (`--build-arg KEY=VALUE`, `--secret-build-arg`), extra
// builder words (`--builder-arg`), and the definition a layer is built from
// (two projects sharing a store; `--take-over`).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/build_fixture.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

// The `# key: value` facts of a lock file.
std::map<std::string, std::string> facts(const std::string& lock_path) {
  std::map<std::string, std::string> out;
  std::string text = read_file(lock_path);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    size_t colon = line.find(": ");
    if (line.rfind("# ", 0) == 0 && colon != std::string::npos)
      out[line.substr(2, colon - 2)] = line.substr(colon + 2);
  }
  return out;
}

// Every regular file below dir whose text holds `needle`, skipping names
// ending in `skip_suffix`.
std::vector<std::string> files_holding(const std::string& dir, const std::string& needle,
                                       const std::string& skip_suffix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string p = e.path().string();
    if (p.size() >= skip_suffix.size() &&
        p.compare(p.size() - skip_suffix.size(), skip_suffix.size(), skip_suffix) == 0)
      continue;
    if (contains(read_file(p), needle)) out.push_back(p);
  }
  return out;
}

// A def with templates in %files and %post, and %arguments defaults.
const char* kTemplateDef = R"(Bootstrap: scratch

%arguments
    pkg=numpy
    apt_pkg=curl

%files
    data/{{ file }} /opt/hello.txt

%post
    apt-get update && apt-get install -y {{ apt_pkg }}
    pip install {{ pkg }}
)";

using BuildArgs = BuildChainTest;

// Built with values: the lock records them, the locked def has them
// rendered (no template, no %arguments), and `verify` without arguments
// rebuilds it verified. The depfile lists the %files source a value names.
TEST_F(BuildArgs, RenderedRecordedAndVerifiedWithoutArguments) {
  write_file(t / "pkg.def", kTemplateDef);
  std::string ts = build_ok(
      "pkg", "pkg.def",
      {"--build-arg", "pkg=PyYAML", "--build-arg=file=hello.txt", "--depfile", t / "pkg.d"});
  ASSERT_FALSE(ts.empty());
  std::string lock = read_file(artifact("pkg", ts, "lock"));
  EXPECT_TRUE(contains(lock, "\npyyaml==")) << lock;
  EXPECT_FALSE(contains(lock, "\nnumpy==")) << lock;
  EXPECT_TRUE(contains(lock, "\ncurl=")) << lock;
  auto f = facts(artifact("pkg", ts, "lock"));
  EXPECT_EQ(json::parse(f["build-args"]),
            (json{{"apt_pkg", "curl"}, {"file", "hello.txt"}, {"pkg", "PyYAML"}}));
  EXPECT_EQ(f.count("secret-build-args"), 0u);
  std::string locked = read_file(artifact("pkg", ts, "def"));
  EXPECT_FALSE(contains(locked, "{{")) << locked;
  EXPECT_FALSE(contains(locked, "%arguments")) << locked;
  EXPECT_TRUE(contains(locked, "data/hello.txt /opt/hello.txt")) << locked;
  // The rough def is kept as written.
  EXPECT_EQ(read_file(artifact("pkg", ts, "rough.def")), kTemplateDef);
  EXPECT_TRUE(contains(read_file(t / "pkg.d"), t / "data/hello.txt")) << read_file(t / "pkg.d");

  // `lock def` of the rough def and the lock gives the build's locked def.
  auto r = cli({"lock", "def", "pkg.def", artifact("pkg", ts, "lock")});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, locked);

  r = cli({"verify", "pkg", "--builder", kStandin});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "verified: version sets identical")) << r.out;
  EXPECT_TRUE(exists(artifact("pkg", ts, "verified")));
  r = cli({"check", "pkg", "--require-verified"});
  EXPECT_EQ(r.status, 0) << r.err;
}

// The README's example base layer: a header template with no default (its
// mirror), a comment mentioning it, built with a value and VERIFY, and
// verified again by plain `sifstore verify base`.
TEST_F(BuildArgs, TheExampleBaseShapeVerifiesWithPlainVerify) {
  write_file(t / "base.def", R"(# The mirror is a build argument: {{ mirror }} is given by CMake.
Bootstrap: scratch
MirrorURL: {{ mirror }}
Include: ca-certificates

%post
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends curl zlib1g # {{ not_a_template }}
)");
  std::string ts = build_ok("base", "base.def",
                            {"--build-arg=mirror=http://deb.example.org/debian", "--verify"});
  ASSERT_FALSE(ts.empty());
  EXPECT_TRUE(exists(artifact("base", ts, "verified")));
  std::string locked = read_file(artifact("base", ts, "def"));
  EXPECT_TRUE(contains(locked, "MirrorURL: http://deb.example.org/debian\n")) << locked;
  // Templates in comments are left as written, as Apptainer leaves them.
  EXPECT_TRUE(contains(locked, "{{ not_a_template }}")) << locked;
  ::unlink(artifact("base", ts, "verified").c_str());
  auto r = cli({"verify", "base", "--builder", kStandin});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(exists(artifact("base", ts, "verified")));
}

// A value with non-ASCII text and a Unicode line separator is recorded on
// one fact line (JSON, ASCII escapes), which both lock readers read back.
TEST_F(BuildArgs, AnyValueIsRecordedOnOneLine) {
  write_file(t / "m.def", "Bootstrap: scratch\nMirrorURL: {{ mirror }}\n");
  std::string value = "http://x/\xc3\xa9\xe2\x80\xa8\"q";  // é, U+2028, a quote
  std::string ts = build_ok("m", "m.def", {"--build-arg=mirror=" + value});
  ASSERT_FALSE(ts.empty());
  auto f = facts(artifact("m", ts, "lock"));
  EXPECT_EQ(f["build-args"], "{\"mirror\":\"http://x/\\u00e9\\u2028\\\"q\"}");
  EXPECT_EQ(json::parse(f["build-args"])["mirror"], value);
  EXPECT_EQ(cli({"check", "m"}).status, 0);
}

TEST_F(BuildArgs, BadArgumentsAreRefusedBeforeTheStoreIsTouched) {
  write_file(t / "pkg.def", kTemplateDef);
  auto r = build("pkg", "pkg.def");  // {{ file }} has no default
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(error_line(r),
            "sifstore: error: pkg.def:8: build argument 'file' is not defined: give it with "
            "--build-arg file=VALUE or a default in %arguments");
  r = build("pkg", "pkg.def", {"--build-arg=file=hello.txt", "--build-arg=pgk=x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "build argument 'pgk' is not used")) << r.err;
  r = build("pkg", "pkg.def", {"--build-arg=file=hello.txt", "--build-arg=pkg=a\nb"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "'pkg': its value holds a line break")) << r.err;
  // The old meaning of --build-arg: a word for the builder.
  r = build("pkg", "pkg.def", {"--build-arg=--fakeroot"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--build-arg takes KEY=VALUE")) << r.err;
  EXPECT_TRUE(contains(r.err, "--builder-arg")) << r.err;
  r = build("pkg", "pkg.def",
            {"--build-arg=file=hello.txt", "--build-arg=pkg=a", "--secret-build-arg=pkg=b"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "both as --build-arg and as --secret-build-arg")) << r.err;
  EXPECT_FALSE(exists(root));
}

// --builder-arg words reach `<builder> build`; verify takes them too.
TEST_F(BuildArgs, BuilderArgsReachTheBuilder) {
  std::string ts = build_ok("base", "base.def", {"--builder-arg=--notest", "--builder-arg", "-F"});
  ASSERT_FALSE(ts.empty());
  EXPECT_TRUE(contains(read_file(artifact("base", ts, "build.log")), " build --notest -F "));
  auto r = cli({"verify", "base", "--builder", kStandin, "--builder-arg=--notest"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(read_file(artifact("base", ts, "build.log")),
                       "sifstore: the rebuild from the locked def: "));
  r = cli({"verify", "base", "--builder", kStandin, "--build-arg=x=1"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--build-arg is not needed")) << r.err;
}

// A secret build argument: no file SifStore writes holds its value (the
// image is the builder's: the stand-in, as Apptainer, stores the def it
// built, values applied); the lock names it; verify needs it again.
TEST_F(BuildArgs, SecretsAreNeverWrittenAndVerifyAsksForThem) {
  write_file(t / "secret.def",
             "Bootstrap: scratch\n\n%post\n    true {{ token }}\n"
             "    apt-get update && apt-get install -y curl\n");
  std::string ts = build_ok("secret", "secret.def", {"--secret-build-arg=token=s3cr3t-XYZ"});
  ASSERT_FALSE(ts.empty());
  EXPECT_EQ(files_holding(root, "s3cr3t-XYZ", ".sif"), std::vector<std::string>{});
  EXPECT_TRUE(contains(read_file(artifact("secret", ts, "build.log")), "token=<secret>"));
  auto f = facts(artifact("secret", ts, "lock"));
  EXPECT_EQ(f["secret-build-args"], "token");
  EXPECT_EQ(f.count("build-args"), 0u);
  EXPECT_TRUE(contains(read_file(artifact("secret", ts, "def")), "true {{ token }}"));

  auto r = cli({"verify", "secret", "--builder", kStandin});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(error_line(r), "sifstore: error: build secret-" + ts +
                               " was built with the secret build argument 'token', which is not "
                               "recorded: give it again with --secret-build-arg token=VALUE");
  EXPECT_FALSE(exists(artifact("secret", ts, "unverified")));
  r = cli({"verify", "secret", "--builder", kStandin, "--secret-build-arg=other=1"});
  EXPECT_EQ(r.status, 1);
  r = cli({"verify", "secret", "--builder", kStandin, "--secret-build-arg=token=s3cr3t-XYZ"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(exists(artifact("secret", ts, "verified")));
  EXPECT_EQ(files_holding(root, "s3cr3t-XYZ", ".sif"), std::vector<std::string>{});
}

// Apptainer 1.1 has no `build --build-arg` (1.2 added it; the stand-in
// claims 1.1.9 with SIFSTORE_STANDIN_VERSION): build arguments still work,
// since SifStore renders them; a secret one, which only the builder could
// take, is refused before anything is built, naming the builder's release.
TEST_F(BuildArgs, ABuilderWithoutBuildArgumentsGetsTheDefRendered) {
  const std::vector<std::string> old{"SIFSTORE_STANDIN_VERSION=1.1.9"};
  write_file(t / "pkg.def", kTemplateDef);
  auto r =
      build("pkg", "pkg.def", {"--build-arg", "pkg=PyYAML", "--build-arg=file=hello.txt"}, old);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string ts = latest("pkg");
  EXPECT_TRUE(contains(read_file(artifact("pkg", ts, "lock")), "\npyyaml==")) << r.err;
  EXPECT_FALSE(contains(read_file(artifact("pkg", ts, "build.log")), "--build-arg"));

  write_file(t / "secret.def", "Bootstrap: scratch\n\n%post\n    true {{ token }}\n");
  r = build("secret", "secret.def", {"--secret-build-arg=token=s3cr3t-XYZ"}, old);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r),
                       "sifstore: error: secret build argument 'token' is handed to the builder "
                       "as its build --build-arg, which "))
      << r.err;
  EXPECT_TRUE(contains(error_line(r), "(apptainer version 1.1.9) does not have")) << r.err;
  EXPECT_FALSE(exists(root + "/secret"));
  // The same with a builder of today's release builds.
  EXPECT_FALSE(build_ok("secret", "secret.def", {"--secret-build-arg=token=s3cr3t-XYZ"}).empty());
}

// A %files source SifStore cannot resolve is reported: the depfile cannot list it.
TEST_F(BuildArgs, AnUnresolvableSourceIsReported) {
  write_file(t / "env.def",
             "Bootstrap: scratch\n\n%files\n    data/hello.txt /opt/a\n"
             "    $HOME/x /opt/b\n");
  auto r = build("env", "env.def", {"--depfile", t / "env.d"});
  EXPECT_TRUE(contains(r.err,
                       "sifstore: warning: env.def:5: %files source '$HOME/x' cannot be "
                       "resolved"))
      << r.err;
}

using LayerDefinition = BuildChainTest;

// Two projects on one store with the same layer name: the second build is
// refused before anything is built, naming both definitions and the ways
// out; the first project's builds are untouched. The same definition by
// another path is the same definition.
TEST_F(LayerDefinition, AnotherProjectsBuildIsRefused) {
  write_file(t / "a/app.def", kBaseDef);
  write_file(t / "a/data/hello.txt", "a\n");
  write_file(t / "b/app.def", kBaseDef);
  write_file(t / "b/data/hello.txt", "b\n");
  std::string ts = build_ok("app", t / "a/app.def");
  ASSERT_FALSE(ts.empty());
  auto before = snapshot(root);
  auto r = build("app", t / "b/app.def");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(error_line(r),
            "sifstore: error: layer 'app' of " + root + " is built from " + t / "a/app.def" +
                ", not from " + t / "b/app.def" +
                "; nothing was built. One layer of a store has one definition: give this one "
                "another layer name, or another store (--root / ROOT), or, if " +
                t / "b/app.def" + " now stands in for " + t / "a/app.def" +
                " (a project moved or renamed), take the layer over with --take-over "
                "(add_sif_layer(... TAKE_OVER))");
  EXPECT_EQ(snapshot(root), before);
  // Quiet, the refusal shows no build log: project A's newest is not B's.
  r = build("app", t / "b/app.def", {"-q"});
  EXPECT_EQ(r.status, 1);
  EXPECT_FALSE(contains(r.err, "the end of")) << r.err;
  // A quiet build that ran and failed shows the end of its own log.
  r = build("app", t / "a/app.def", {"-q"}, {"SIFSTORE_STANDIN_FAIL=3"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "sifstore: the end of " + root + "/app/app-")) << r.err;
  EXPECT_TRUE(contains(r.err, "stand-in failure injected")) << r.err;
  // Project A goes on: by a relative path, and through a symlinked directory.
  EXPECT_FALSE(build_ok("app", "a/app.def").empty());
  ASSERT_EQ(::symlink("a", (t / "a-link").c_str()), 0);
  EXPECT_FALSE(build_ok("app", "a-link/app.def").empty());
  EXPECT_EQ(builds("app").size(), 3u);
}

// A moved project: the error says the old definition is gone and how to
// take the layer over; --take-over does, and the layer then follows the new
// definition.
TEST_F(LayerDefinition, AMovedProjectTakesItsLayerOver) {
  write_file(t / "old/app.def", kBaseDef);
  write_file(t / "old/data/hello.txt", "x\n");
  std::string ts1 = build_ok("app", t / "old/app.def");
  ASSERT_EQ(::rename((t / "old").c_str(), (t / "new").c_str()), 0);
  auto before = snapshot(root);
  auto r = build("app", t / "new/app.def");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "(" + t / "old/app.def" + " no longer exists)")) << r.err;
  EXPECT_TRUE(contains(error_line(r), "--take-over")) << r.err;
  EXPECT_EQ(snapshot(root), before);
  std::string ts2 = build_ok("app", t / "new/app.def", {"--take-over"});
  ASSERT_FALSE(ts2.empty());
  EXPECT_EQ(facts(artifact("app", ts2, "lock"))["def-path"], t / "new/app.def");
  EXPECT_FALSE(build_ok("app", t / "new/app.def").empty());
  EXPECT_EQ(builds("app").size(), 3u);
}

}  // namespace
}  // namespace sifstore::test
