#include "core/deffile.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;

std::string parse_error(const std::string& text) {
  try {
    parse_def(text, "/defs/x.def");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DefParse, HeaderKeysAreCaseInsensitive) {
  DefFile d = parse_def(
      "# leading comment\n"
      "\n"
      "BootStrap: docker\n"
      "FROM: debian:12   # the base\n"
      "  OSVersion : bookworm\n"
      "MirrorURL: http://deb.debian.org/debian/\\\n"
      "  more\n"
      "OtherURL2: http://x\n"
      "%post\n"
      "  echo hi\n",
      "/defs/x.def");
  ASSERT_EQ(d.stages.size(), 1u);
  const DefStage& s = d.final_stage();
  EXPECT_EQ(s.line, 3u);
  EXPECT_EQ(s.bootstrap(), "docker");
  EXPECT_EQ(s.from(), "debian:12");
  EXPECT_EQ(s.header_value("osversion"), "bookworm");
  EXPECT_EQ(s.header_value("mirrorurl"), "http://deb.debian.org/debian/more");
  EXPECT_EQ(s.header_value("otherurl2"), "http://x");
  const DefHeaderEntry* m = s.find_header("mirrorurl");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->line, 6u);
  EXPECT_EQ(m->end_line, 7u);
  EXPECT_EQ(s.find_header("from")->line, 4u);
  EXPECT_EQ(d.dir, "/defs");
}

TEST(DefParse, SectionsWithArgumentsAndBodies) {
  DefFile d = parse_def(
      "Bootstrap: localimage\n"
      "From: base.sif\n"
      "%Post -c /bin/bash\n"
      "  apt-get update\r\n"
      "\n"
      "%environment\n"
      "  export A=1\n"
      "%appinstall tool\n"
      "  make\n"
      "%labels\n"
      "%help\n"
      "Some help.\n",
      "x.def");
  const auto& secs = d.final_stage().sections;
  ASSERT_EQ(secs.size(), 5u);
  EXPECT_EQ(secs[0].name, "post");
  EXPECT_EQ(secs[0].args, "-c /bin/bash");
  EXPECT_EQ(secs[0].body, "  apt-get update\n\n");
  EXPECT_EQ(secs[0].line, 3u);
  EXPECT_EQ(secs[0].end_line, 5u);
  EXPECT_EQ(secs[1].name, "environment");
  EXPECT_EQ(secs[2].name, "appinstall");
  EXPECT_EQ(secs[2].args, "tool");
  EXPECT_EQ(secs[3].name, "labels");
  EXPECT_EQ(secs[3].body, "");
  EXPECT_EQ(secs[4].body, "Some help.\n");
  EXPECT_EQ(secs[4].end_line, 12u);
}

TEST(DefParse, MultiStage) {
  DefFile d = parse_def(
      "Bootstrap: docker\nFrom: golang:1.22\nStage: build\n%post\n  go build\n"
      "bootstrap: localimage\nFrom: base.sif\n%files from build\n  /src/app /usr/bin/app\n",
      "x.def");
  ASSERT_EQ(d.stages.size(), 2u);
  EXPECT_EQ(d.stages[0].name(), "build");
  EXPECT_EQ(d.stages[0].end_line, 5u);
  EXPECT_EQ(d.stages[1].line, 6u);
  EXPECT_EQ(d.final_stage().bootstrap(), "localimage");
  const DefSection& f = d.final_stage().sections.at(0);
  EXPECT_EQ(f.name, "files");
  EXPECT_EQ(f.args, "from build");
  EXPECT_FALSE(f.copies_from_host());
  ASSERT_EQ(f.files.size(), 1u);
  EXPECT_EQ(f.files[0].src, "/src/app");
  EXPECT_EQ(f.files[0].dst, "/usr/bin/app");
  EXPECT_EQ(f.files[0].line, 9u);
}

TEST(DefParse, FilesLinesSplitAsApptainerDoes) {
  DefFile d = parse_def(
      "Bootstrap: docker\nFrom: x\n"
      "%files #host files\n"
      "  # a comment\n"
      "  plain.txt\n"
      "  \"with space.txt\"   /opt/with space\n"
      "  a\"b c\" /d\n"
      "  {{ dir }}/conf.yaml /etc/conf.yaml\n"
      "  'single quoted' /x\n"
      "  src\tdst\n",
      "x.def");
  const DefSection& f = d.final_stage().sections.at(0);
  EXPECT_TRUE(f.copies_from_host());
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& e : f.files) got.emplace_back(e.src, e.dst);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"plain.txt", ""},
                     {"with space.txt", "/opt/with"},  // the destination is not quoted
                     {"a", "b c"},
                     {"{{ dir }}/conf.yaml", "/etc/conf.yaml"},
                     {"'single quoted", "' /x"},  // Apptainer's splitter has no closing '
                     {"src", "dst"}}));
}

// The %files splitter is written out by hand; Python's re follows the same
// leftmost-first rules as Go's RE2 for Apptainer's expression, so random
// lines must split the same way in both.
TEST(DefParse, FilesSplitterMatchesTheRegularExpression) {
  if (test::run({"python3", "-c", "pass"}).status != 0) GTEST_SKIP() << "no python3: skipped";
  const std::string alphabet = "ab_/.*{{}} \t\"'\\$-";
  uint32_t x = 2024;
  std::vector<std::string> lines;
  for (int i = 0; i < 3000; ++i) {
    x = x * 1103515245u + 12345u;
    size_t len = 1 + (x >> 16) % 24;
    std::string line;
    for (size_t k = 0; k < len; ++k) {
      x = x * 1103515245u + 12345u;
      line += alphabet[(x >> 16) % alphabet.size()];
    }
    if (i % 7 == 0) line += "{{ arg }}x";  // templates, with spaces inside
    lines.push_back(line);
  }
  TempDir t;
  nlohmann::json in = lines;
  test::write_file(t / "lines.json", in.dump());
  test::write_file(t / "split.py", R"py(import json, re, sys
pat = re.compile(r"""([^\t\n\f\r "']*{{[\t\n\f\r ]*[0-9A-Za-z_]+[\t\n\f\r ]*}}*[^\t\n\f\r {}"']*)+|([^\t\n\f\r "']+|"([^"]*)"|'([^']*))""")
out = []
for line in json.load(open(sys.argv[1])):
    t = line.strip(" \t\n\r\v\f")
    if not t or t.startswith("#"):
        out.append("skip")
        continue
    words = [m.group(0) for m in pat.finditer(t)]
    if not words:
        out.append(None)
        continue
    src = words[0].strip(" \t\n\r\v\f").strip('"')
    dst = words[1].strip(" \t\n\r\v\f").strip('"') if len(words) > 1 else ""
    out.append([src, dst])
json.dump(out, sys.stdout)
)py");
  auto r = test::run({"python3", t / "split.py", t / "lines.json"});
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json want = nlohmann::json::parse(r.out);
  ASSERT_EQ(want.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    nlohmann::json got;
    try {
      DefFile d = parse_def("Bootstrap: docker\n%files\n" + lines[i] + "\n", "x.def");
      const auto& files = d.final_stage().sections.at(0).files;
      if (files.empty())
        got = "skip";
      else
        got = {files[0].src, files[0].dst};
    } catch (const Error&) {
      got = nullptr;
    }
    EXPECT_EQ(got, want[i]) << "line: [" << lines[i] << "]";
  }
}

// A line of only '%'s names no section: an error naming the line (found by
// def_fuzz; the parser took the name from past the end of the line).
TEST(DefParse, ALineOfOnlyPercentSignsIsAnError) {
  for (const char* text : {"Bootstrap: docker\nFrom: debian\n\n%\n", "Bootstrap: docker\n%%\n"}) {
    try {
      parse_def(text, "/defs/x.def");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("/defs/x.def:"), std::string::npos) << e.what();
    }
  }
}

TEST(DefParse, BadInputNamesFileAndLine) {
  struct Case {
    std::string text, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"", "/defs/x.def:1: no 'Bootstrap:' header"},
           {"# just a comment\n\n", "/defs/x.def:1: no 'Bootstrap:' header"},
           {"%post\n  echo\n", "/defs/x.def:1: '%post' comes before any 'Bootstrap:' header"},
           {"From: debian\nBootstrap: docker\n",
            "/defs/x.def:1: 'From: debian' comes before any 'Bootstrap:' header"},
           {"Bootstrap: docker\nFrom debian\n", "/defs/x.def:2: header line 'From debian' has no"},
           {"Bootstrap: docker\nColour: blue\n", "/defs/x.def:2: unknown header keyword 'colour'"},
           {"Bootstrap:\nFrom: x\n", "/defs/x.def:1: 'Bootstrap:' has no value"},
           {"Bootstrap: docker\nFrom: x\n%post\n  a\n%postt\n",
            "/defs/x.def:5: unknown section '%postt'"},
           {"Bootstrap: docker\n%appinstall\n",
            "/defs/x.def:2: section '%appinstall' needs an app"},
           {"Bootstrap: docker\n%files\n  \"\n", "/defs/x.def:3: %files line '\"' names no source"},
           {std::string("Bootstrap: docker\n%post\n\x7f\x00\x01", 27), "/defs/x.def:3: NUL byte"},
           {"\xEF\xBB\xBF"
            "Bootstrap: docker\n",
            "/defs/x.def:1: the file starts with a UTF-8 byte-order mark (bytes EF BB BF)"},
       }) {
    std::string err = parse_error(c.text);
    EXPECT_EQ(err.rfind(c.expect, 0), 0u) << "text: " << c.text << "\nerror: " << err;
  }
}

// The base of a build is defined once: the final stage when it starts from
// a local image, else the only stage that does.
TEST(DefStages, BaseStageAndLocalImageStages) {
  DefFile two = parse_def(
      "Bootstrap: localimage\nFrom: a.sif\nStage: a\n"
      "Bootstrap: docker\nFrom: debian\nStage: b\n"
      "Bootstrap: localimage\nFrom: c.sif\n",
      "/defs/x.def");
  ASSERT_EQ(two.local_image_stages().size(), 2u);
  EXPECT_EQ(two.base_stage(), &two.final_stage());
  DefFile first =
      parse_def("Bootstrap: localimage\nFrom: a.sif\nStage: a\nBootstrap: docker\nFrom: debian\n",
                "/defs/x.def");
  EXPECT_EQ(first.base_stage(), &first.stages[0]);
  DefFile none = parse_def("Bootstrap: docker\nFrom: debian\n", "/defs/x.def");
  EXPECT_EQ(none.base_stage(), nullptr);
  EXPECT_TRUE(none.local_image_stages().empty());
  DefFile ambiguous = parse_def(
      "Bootstrap: localimage\nFrom: a.sif\nBootstrap: localimage\nFrom: b.sif\n"
      "Bootstrap: docker\nFrom: debian\n",
      "/defs/x.def");
  EXPECT_EQ(ambiguous.base_stage(), nullptr);
  try {
    ambiguous.require_base_stage("FROM base");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/defs/x.def: FROM base, but the stages at lines 1 and 3"),
              std::string::npos)
        << e.what();
  }
}

TEST(DefParse, BinaryGarbageIsAnErrorNotACrash) {
  uint32_t x = 99;
  for (int round = 0; round < 50; ++round) {
    std::string garbage;
    for (int i = 0; i < 512; ++i) {
      x = x * 1103515245u + 12345u;
      garbage += static_cast<char>((x >> 16) & 0xFF);
    }
    EXPECT_NE(parse_error(garbage), "");
    // Garbage after a valid header: an error, or a parse; never a crash.
    try {
      parse_def("Bootstrap: docker\n%post\n" + garbage, "x.def");
    } catch (const Error&) {
    }
  }
}

TEST(DefParse, ReadsFilesByPath) {
  TempDir t;
  test::write_file(t / "a.def", "Bootstrap: docker\nFrom: x\n");
  DefFile d = read_def_file(t / "a.def");
  EXPECT_EQ(d.dir, std::filesystem::canonical(t.path()).string());
  EXPECT_EQ(d.path, t / "a.def");
  try {
    read_def_file(t / "none.def");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(t / "none.def"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_def_file(t.path()), Error);
}

TEST(DefSources, ResolveAgainstTheDefDirectory) {
  DefFile d = parse_def(
      "Bootstrap: docker\nFrom: x\nStage: build\n"
      "%arguments\n"
      "  conf=etc/default.yaml\n"
      "  other = {{ conf }}.bak\n"
      "%files\n"
      "  data/input.csv /data/\n"
      "  /abs/file\n"
      "  \"my file.txt\"\n"
      "  lit\\*eral\n"
      "  ./sub/../other.txt\n"
      "  *.py /app/\n"
      "  \"'*.quoted'\"\n"
      "  {{ conf }} /etc/app.yaml\n"
      "  {{ other }}\n"
      "  {{ missing }}\n"
      "  $HOME/x\n"
      "  ~/x\n"
      "  'unclosed\n"
      "%files from build\n"
      "  /not/from/host\n"
      "%appfiles tool\n"
      "  tool.sh bin/tool.sh\n",
      "/work/proj/x.def");
  auto sources = def_sources(d);
  ASSERT_EQ(sources.size(), 14u);
  auto expect = [&](size_t i, const std::string& path, bool pattern = false) {
    EXPECT_TRUE(sources[i].resolved) << i << " " << sources[i].why;
    EXPECT_EQ(sources[i].path, path) << i;
    EXPECT_EQ(sources[i].pattern, pattern) << i;
  };
  expect(0, "/work/proj/data/input.csv");
  EXPECT_EQ(sources[0].line, 8u);
  expect(1, "/abs/file");
  expect(2, "/work/proj/my file.txt");
  expect(3, "/work/proj/lit*eral");  // an escaped '*' is no pattern
  expect(4, "/work/proj/other.txt");
  expect(5, "/work/proj/*.py", true);
  EXPECT_EQ(sources[5].glob, "/work/proj/*.py");
  expect(6, "/work/proj/*.quoted");  // Apptainer trims '"' first: only '...' quotes it
  expect(7, "/work/proj/etc/default.yaml");
  expect(8, "/work/proj/etc/default.yaml.bak");  // a default that uses another
  for (size_t i : {9, 10, 11, 12}) EXPECT_FALSE(sources[i].resolved) << i;
  EXPECT_NE(sources[9].why.find("'missing'"), std::string::npos) << sources[9].why;
  EXPECT_EQ(sources[10].src, "$HOME/x");
  expect(13, "/work/proj/tool.sh");

  // A --build-arg overrides the %arguments default.
  auto with_arg = def_sources(d, {{"conf", "/elsewhere.yaml"}, {"missing", "m"}});
  EXPECT_EQ(with_arg[7].path, "/elsewhere.yaml");
  EXPECT_TRUE(with_arg[9].resolved);
  EXPECT_EQ(with_arg[9].path, "/work/proj/m");
}

TEST(RenderBuildArgs, AsApptainerRendersThem) {
  DefFile d = parse_def(
      "# {{ in_a_comment }}\n"
      "Bootstrap: docker\nFrom: {{ image }}\nStage: build\n"
      "%arguments\n  image=debian:12\n  tag=v{{ version }}\n  version=1\n"
      "%post\n  echo {{tag}} {{ x }} # {{ left }}\n  #!{{ x }}\n"
      "Bootstrap: localimage\nFrom: base.sif\n"
      "%arguments\n  image=other\n"
      "%post\n  echo {{ image }} {{ secret }}\n",
      "/p/x.def");
  RenderedDef r = render_build_args(d, {{"x", "X"}}, {"secret"});
  EXPECT_EQ(r.text,
            "# {{ in_a_comment }}\n"
            "Bootstrap: docker\nFrom: debian:12\nStage: build\n"
            "%post\n  echo v1 X # {{ left }}\n  #!X\n"
            "Bootstrap: localimage\nFrom: base.sif\n"
            "%post\n  echo other {{ secret }}\n");
  // Each stage has its own defaults; the last rendered value is recorded.
  EXPECT_EQ(r.values,
            (std::map<std::string, std::string>{{"image", "other"}, {"tag", "v1"}, {"x", "X"}}));
  EXPECT_NO_THROW(parse_def(r.text, "/p/x.def"));

  // Errors: undefined (with its line), unused, a line break, a bad name.
  auto message = [&](const std::map<std::string, std::string>& args,
                     const std::set<std::string>& kept) {
    try {
      render_build_args(d, args, kept);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({}, {"secret"}),
            "/p/x.def:10: build argument 'x' is not defined: give it with --build-arg x=VALUE "
            "or a default in %arguments");
  EXPECT_EQ(message({{"x", "1"}, {"y", "2"}}, {"secret"}),
            "/p/x.def: build argument 'y' is not used: the definition has no {{ y }} outside "
            "comments");
  EXPECT_EQ(message({{"x", "1"}}, {"secret", "in_a_comment"}),
            "/p/x.def: build argument 'in_a_comment' is not used: the definition has no "
            "{{ in_a_comment }} outside comments");
  EXPECT_EQ(message({{"x", "1\n2"}}, {"secret"}),
            "build argument 'x': its value holds a line break");
  EXPECT_NE(message({{"x", "1"}, {"a-b", "2"}}, {"secret"}).find("invalid build argument name"),
            std::string::npos);

  // Without templates or %arguments: byte for byte.
  std::string plain = "Bootstrap: scratch\n%post\n  echo {{ no\n";
  EXPECT_EQ(render_build_args(parse_def(plain, "/p/y.def"), {}).text, plain);
}

TEST(DefInputs, ExpandsPatternsAndDirectories) {
  TempDir t;
  test::write_file(t / "a.py", "");
  test::write_file(t / "b.py", "");
  test::write_file(t / "c.txt", "");
  test::write_file(t / "tree/x/y.txt", "");
  test::write_file(t / "tree/z.txt", "");
  test::write_file(t / "x.def",
                   "Bootstrap: docker\nFrom: x\n%files\n  *.py /app/\n  tree /opt/tree\n"
                   "  missing.txt\n  nomatch*.cfg\n  c.txt\n  $VAR/skipped\n");
  std::string root = std::filesystem::canonical(t.path()).string();
  auto inputs = def_inputs(read_def_file(root + "/x.def"));
  EXPECT_EQ(inputs,
            (std::vector<std::string>{root, root + "/a.py", root + "/b.py", root + "/c.txt",
                                      root + "/missing.txt", root + "/tree", root + "/tree/x",
                                      root + "/tree/x/y.txt", root + "/tree/z.txt"}));
}

TEST(Depfile, EscapesAsNinjaReadsIt) {
  EXPECT_EQ(depfile_text("out/a.stamp", {"/src/a b.txt", "/src/#x", "/src/$y", "/src/é"}),
            "out/a.stamp: \\\n  /src/a\\ b.txt \\\n  /src/\\#x \\\n  /src/$$y \\\n  /src/é\n");
  EXPECT_EQ(depfile_text("t", {}), "t:\n");
  for (const char* bad : {"a\nb", "a\tb", "a:", "a\\", "a\\ b", "a*b", "a;b", "it's", ""})
    EXPECT_THROW(depfile_text("t", {bad}), Error) << bad;
  std::vector<std::string> skipped;
  EXPECT_EQ(depfile_text("t", {"/a", "/b*", "/c"}, &skipped), "t: \\\n  /a \\\n  /c\n");
  EXPECT_EQ(skipped, std::vector<std::string>{"/b*"});
  EXPECT_THROW(depfile_text("bad:", {}, &skipped), Error);  // the target is never skipped
}

// Ninja itself reads the depfile back into the same paths.
TEST(Depfile, NinjaReadsItBack) {
  if (test::run({"ninja", "--version"}).status != 0) GTEST_SKIP() << "no ninja: skipped";
  TempDir t;
  std::vector<std::string> deps = {t / "in one.txt", t / "in#two.txt", t / "in$three.txt",
                                   t / "in(four)=é.txt", t / "back\\slash.txt"};
  for (const auto& d : deps) test::write_file(d, "x");
  write_depfile(t / "deps.d", "out.stamp", deps);
  test::write_file(t / "build.ninja",
                   "rule touch\n  command = touch out.stamp\n  depfile = deps.d\n  deps = gcc\n"
                   "build out.stamp: touch\n");
  auto r = test::run({"ninja", "-C", t.path()});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  r = test::run({"ninja", "-C", t.path(), "-t", "deps", "out.stamp"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& d : deps) EXPECT_NE(r.out.find("    " + d + "\n"), std::string::npos) << r.out;
  // And it rebuilds when one of them changes.
  r = test::run({"ninja", "-C", t.path(), "-n"});
  EXPECT_NE(r.out.find("no work to do"), std::string::npos) << r.out;
  ::sleep(1);
  test::write_file(deps[1], "changed");
  r = test::run({"ninja", "-C", t.path(), "-n"});
  EXPECT_EQ(r.out.find("no work to do"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace sifstore
