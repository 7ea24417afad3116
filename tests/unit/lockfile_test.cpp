#include "core/lockfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/reference_py.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;

// The message of the Error that parse_lock throws, "" when it does not.
std::string parse_error(const std::string& text) {
  try {
    parse_lock(text, "x.lock");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LockParse, ReadsTheReferenceLayout) {
  PackageLock l = parse_lock(
      "# scitex-container lock\n"
      "# image-sha256: abc123\n"
      "# builder-version: apptainer version 1.3.4\n"
      "# a plain comment\n"
      "[pip]\n"
      "NumPy==2.1.0\n"
      "-e git+https://example.org/x.git#egg=x\n"
      "[dpkg]\n"
      "libc6=2.36-9+deb12u4\n"
      "[node]\n"
      "{\n  \"dependencies\": {\"npm\": {\"version\": \"10.2.0\"}}\n}\n",
      "x.lock");
  EXPECT_EQ(l.pip, (std::map<std::string, std::string>{
                       {"numpy", "2.1.0"}, {"-e git+https://example.org/x.git#egg=x", ""}}));
  EXPECT_EQ(l.dpkg, (std::map<std::string, std::string>{{"libc6", "2.36-9+deb12u4"}}));
  EXPECT_EQ(l.node, "{\n  \"dependencies\": {\"npm\": {\"version\": \"10.2.0\"}}\n}");
  EXPECT_EQ(l.facts,
            (std::map<std::string, std::string>{{"image-sha256", "abc123"},
                                                {"builder-version", "apptainer version 1.3.4"}}));
  EXPECT_EQ(l.version_set(),
            (std::map<std::string, std::string>{{"pip:numpy", "2.1.0"},
                                                {"pip:-e git+https://example.org/x.git#egg=x", ""},
                                                {"dpkg:libc6", "2.36-9+deb12u4"},
                                                {"node:npm", "10.2.0"}}));
}

TEST(LockParse, SplitsAndStripsLikePython) {
  // \r\n, \r, form feed and U+2028 end lines; NBSP and U+3000 are white
  // space; "==" splits once; dpkg splits at the first '='.
  PackageLock l = parse_lock(
      "[pip]\r\n"
      "\xc2\xa0 Foo == 1.0 \xe3\x80\x80\r"
      "a==1==2\x0c"
      "[dpkg]\xe2\x80\xa8"
      "x=1=2\n"
      "  y = 3 \n",
      "x.lock");
  EXPECT_EQ(l.pip, (std::map<std::string, std::string>{{"foo", "1.0"}, {"a", "1==2"}}));
  EXPECT_EQ(l.dpkg, (std::map<std::string, std::string>{{"x", "1=2"}, {"y", "3"}}));
  EXPECT_EQ(l.node, "");
}

TEST(LockParse, NodeSectionIsVerbatimButForCommentsAndOuterSpace) {
  PackageLock l =
      parse_lock("[node]\n\n  {\n# dropped, as the reference drops it\n   \"a\": 1}\n\n", "x.lock");
  EXPECT_EQ(l.node, "{\n   \"a\": 1}");
  // Sections in any order; an empty node section is "".
  l = parse_lock("[node]\n[dpkg]\na=1\n[pip]\n", "x.lock");
  EXPECT_EQ(l.node, "");
  EXPECT_EQ(l.dpkg.size(), 1u);
}

TEST(LockParse, EmptyTextIsAnEmptyLock) {
  EXPECT_EQ(parse_lock("", "x.lock"), PackageLock());
  EXPECT_EQ(parse_lock("# only comments\n\n", "x.lock"), PackageLock());
}

TEST(LockParse, BadInputNamesFileAndLine) {
  struct Case {
    std::string text, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"[pip]\na==1\n[apt]\nb=2\n", "x.lock:3: unknown section [apt]"},
           {"numpy==1.0\n[pip]\n", "x.lock:1: 'numpy==1.0' before the first section"},
           {"[dpkg]\nlibc6\n", "x.lock:2: dpkg line 'libc6' has no '='"},
           {"[dpkg]\n=1.0\n", "x.lock:2: dpkg line '=1.0' has no package name"},
           {"[pip]\n  == 1.0\n", "x.lock:2: pip line '== 1.0' has no package name"},
           {"[pip]\na==1\n\nA==2\n", "x.lock:4: pip package 'a' given twice (first at line 2)"},
           {"[dpkg]\na=1\na=1\n", "x.lock:3: dpkg package 'a' given twice (first at line 2)"},
           {"[pip]\n[dpkg]\n[pip]\n", "x.lock:3: section [pip] given twice (first at line 1)"},
           {"[pip]\ncaf\xc3\xa9==1\n", "x.lock:2: pip package name 'caf\xc3\xa9' is not a package"},
           // Found by lock_fuzz: a name that would read back as a section.
           {"[pip]\n[dpkg]==\n", "x.lock:2: pip package name '[dpkg]' is not a package name"},
           {"[dpkg]\n[pip] x=1\n", "x.lock:2: dpkg package name '[pip] x' is not a package"},
           {"[pip]\na==1\n[node]\n{\"dependencies\": \n",
            "x.lock:3: the [node] section is not JSON"},
           {"[pip]\n\xff\xfe\n", "x.lock:2: not UTF-8 text"},
           {std::string("[pip]\na==1\n\x01\x00\x02", 14), "x.lock:3: NUL byte"},
           {"[pip]\n\xed\xa0\x80\n", "x.lock:2: not UTF-8 text"},  // a surrogate
           {"[pip]\n\xc0\xaf\n", "x.lock:2: not UTF-8 text"},      // overlong '/'
       }) {
    std::string err = parse_error(c.text);
    EXPECT_EQ(err.rfind(c.expect, 0), 0u) << "text: " << c.text << "\nerror: " << err;
  }
}

TEST(LockParse, BinaryGarbageIsAnErrorNotACrash) {
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245u + 12345u;
    garbage += static_cast<char>((x >> 16) & 0xFF);
  }
  EXPECT_NE(parse_error(garbage), "");
  EXPECT_NE(parse_error("[pip]\n" + garbage), "");
}

TEST(LockFormat, WritesTheReferenceLayoutByteForByte) {
  PackageLock l;
  l.pip = {{"numpy", "2.1.0"}, {"-e git+https://x/y.git#egg=y", ""}, {"attrs", "23.1"}};
  l.dpkg = {{"libc6", "2.36"}, {"bash", "5.2"}};
  l.node = "\n  {\"dependencies\": {}}  \n";
  EXPECT_EQ(format_lock(l),
            "# scitex-container lock\n[pip]\n-e git+https://x/y.git#egg=y\nattrs==23.1\n"
            "numpy==2.1.0\n[dpkg]\nbash=5.2\nlibc6=2.36\n[node]\n{\"dependencies\": {}}\n");
  EXPECT_EQ(format_lock(PackageLock()), "# scitex-container lock\n[pip]\n[dpkg]\n[node]\n\n");
}

TEST(LockFormat, FactsAreCommentsAfterTheFirstLine) {
  PackageLock l;
  l.facts = {{"image-sha256", "ff00"}, {"builder", "apptainer"}};
  l.pip = {{"a", "1"}};
  std::string text = format_lock(l);
  EXPECT_EQ(text,
            "# scitex-container lock\n# builder: apptainer\n# image-sha256: ff00\n[pip]\na==1\n"
            "[dpkg]\n[node]\n\n");
  EXPECT_EQ(parse_lock(text, "x.lock"), l);
}

TEST(LockFormat, RoundTrips) {
  PackageLock l;
  l.pip = {{"numpy", "2.1.0"}, {"pkg @ file:///tmp/pkg", ""}, {"zope.interface", "6.0"}};
  l.dpkg = {{"libc6", "2.36-9+deb12u4"}, {"g++", "4:12.2.0-3"}, {"empty", ""}};
  l.node = "{\n  \"dependencies\": {\n    \"npm\": {\"version\": \"10.2.0\"}\n  }\n}";
  l.facts = {{"def-sha256", "0123"}, {"captured-by", "sifstore 0.1.0 static"}};
  EXPECT_EQ(parse_lock(format_lock(l), "x.lock"), l);
}

TEST(LockFormat, RefusesEntriesThatWouldNotReadBack) {
  auto fails = [](auto mutate) {
    PackageLock l;
    mutate(l);
    EXPECT_THROW(format_lock(l), Error);
  };
  fails([](PackageLock& l) { l.pip["a\nb"] = "1"; });
  fails([](PackageLock& l) { l.pip["Numpy"] = "1"; });  // would read back lower-cased
  fails([](PackageLock& l) { l.pip[" a"] = "1"; });
  fails([](PackageLock& l) { l.pip["a==b"] = ""; });
  fails([](PackageLock& l) { l.pip["a"] = "1\r"; });
  fails([](PackageLock& l) { l.pip["[node]"] = ""; });
  fails([](PackageLock& l) { l.pip["#a"] = ""; });
  fails([](PackageLock& l) { l.dpkg["a=b"] = "1"; });
  fails([](PackageLock& l) { l.dpkg[""] = "1"; });
  fails([](PackageLock& l) {
    l.dpkg["a"] =
        "1\xe2\x80\xa8"
        "2";
  });  // U+2028 breaks a line
  fails([](PackageLock& l) { l.facts["Bad Key"] = "x"; });
  fails([](PackageLock& l) { l.facts["k"] = "two\nlines"; });
  fails([](PackageLock& l) { l.node = "not json"; });
  fails([](PackageLock& l) { l.node = "{\"a\":\n[pip]\n}"; });
}

TEST(NodeVersions, FlattensDependenciesAsPythonWould) {
  auto v = node_versions(
      "{\"dependencies\": {\"a\": {\"version\": \"1.0\"}, \"b\": {\"version\": 2},"
      " \"c\": {\"version\": true}, \"d\": {\"version\": null}, \"e\": {\"version\": 1.5},"
      " \"f\": \"x\", \"g\": {}}}");
  EXPECT_EQ(v, (std::map<std::string, std::string>{
                   {"a", "1.0"}, {"b", "2"}, {"c", "True"}, {"d", "None"}, {"e", "1.5"}}));
  EXPECT_TRUE(node_versions("").empty());
  EXPECT_TRUE(node_versions("  \n").empty());
  EXPECT_TRUE(node_versions("{not json").empty());
  EXPECT_TRUE(node_versions("[1, 2]").empty());
  EXPECT_TRUE(node_versions("{\"dependencies\": [1]}").empty());
}

TEST(LockDiff, NamesChangedAndOneSidedPackages) {
  PackageLock a, b;
  a.pip = {{"numpy", "1.0"}, {"same", "1"}, {"gone", "3"}};
  b.pip = {{"numpy", "2.0"}, {"same", "1"}};
  b.dpkg = {{"new", "1"}};
  LockDiff d = compare_locks(a, b);
  EXPECT_FALSE(d.identical());
  EXPECT_EQ(
      d.changed,
      (std::map<std::string, std::pair<std::string, std::string>>{{"pip:numpy", {"1.0", "2.0"}}}));
  EXPECT_EQ(d.only_in_a, (std::map<std::string, std::string>{{"pip:gone", "3"}}));
  EXPECT_EQ(d.only_in_b, (std::map<std::string, std::string>{{"dpkg:new", "1"}}));
  EXPECT_EQ(d.summary(), "1 changed (pip:numpy: 1.0 -> 2.0); 1 only in rough; 1 only in rebuild");
  EXPECT_TRUE(compare_locks(a, a).identical());
  EXPECT_EQ(compare_locks(a, a).summary(), "version sets identical");
}

TEST(LockDiff, SummaryShowsTheFirstTenChanges) {
  PackageLock a, b;
  for (int i = 0; i < 12; ++i) {
    std::string n = "p" + std::to_string(100 + i);
    a.dpkg[n] = "1";
    b.dpkg[n] = "2";
  }
  std::string s = compare_locks(a, b).summary();
  EXPECT_EQ(s.rfind("12 changed (dpkg:p100: 1 -> 2, ", 0), 0u) << s;
  EXPECT_NE(s.find("dpkg:p109: 1 -> 2)"), std::string::npos) << s;
  EXPECT_EQ(s.find("p110"), std::string::npos) << s;
}

TEST(LockFile, ReadsAndWritesFiles) {
  TempDir t;
  PackageLock l;
  l.pip = {{"a", "1"}};
  write_lock_file(Dir::open(t.path()), "x.lock", l);
  EXPECT_EQ(read_lock_file(t / "x.lock"), l);
  // A symlink the user names is followed (stable pointers such as <layer>.lock).
  ASSERT_EQ(::symlink("x.lock", (t / "latest.lock").c_str()), 0);
  EXPECT_EQ(read_lock_file(t / "latest.lock"), l);
  try {
    read_lock_file(t / "missing.lock");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(t / "missing.lock"), std::string::npos) << e.what();
  }
  // A FIFO is refused at once, never read.
  ASSERT_EQ(::mkfifo((t / "fifo.lock").c_str(), 0600), 0);
  EXPECT_THROW(read_lock_file(t / "fifo.lock"), Error);
  EXPECT_THROW(read_lock_file(t.path()), Error);
  test::write_file(t / "bad.lock", "[pip]\na==1\n[apk]\n");
  try {
    read_lock_file(t / "bad.lock");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(t / "bad.lock:3: unknown section [apk]", 0), 0u)
        << e.what();
  }
}

// --- against the reference implementation (python3) ----------------------------------------

class LockReference : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ref_.unavailable().empty()) GTEST_SKIP() << ref_.unavailable() << ": skipped";
  }

  nlohmann::json python(const std::vector<std::string>& args) {
    std::string error;
    nlohmann::json j = ref_.run(args, &error);
    EXPECT_EQ(error, "");
    return j;
  }

  // What the reference reads from text, as JSON.
  nlohmann::json reference_reads(const std::string& text) {
    std::string path = tmp_ / ("in" + std::to_string(counter_++) + ".lock");
    test::write_file(path, text);
    return python({"read", path});
  }

  static nlohmann::json as_json(const PackageLock& l) {
    return {{"pip", l.pip}, {"dpkg", l.dpkg}, {"node", l.node}, {"version_set", l.version_set()}};
  }

  test::ReferencePython ref_;
  const TempDir& tmp_ = ref_.dir();
  int counter_ = 0;
};

// The input key of a build (core/input_key.h) is a fact: a comment the
// reference skips, reading the same versions as from the lock without it.
TEST_F(LockReference, AnInputKeyFactIsACommentToTheReference) {
  PackageLock lock;
  lock.pip["numpy"] = "1.26.4";
  lock.dpkg["libc6"] = "2.36-9";
  lock.facts["image-sha256"] = std::string(64, 'a');
  lock.facts["input-key"] = std::string(64, 'b');
  const std::string text = format_lock(lock);
  EXPECT_NE(text.find("\n# input-key: " + std::string(64, 'b') + "\n"), std::string::npos);
  EXPECT_EQ(parse_lock(text, "x.lock").facts.at("input-key"), std::string(64, 'b'));
  nlohmann::json theirs = reference_reads(text);
  EXPECT_EQ(as_json(parse_lock(text, "x.lock")), theirs);
  PackageLock without = lock;
  without.facts.clear();
  EXPECT_EQ(theirs, reference_reads(format_lock(without)));
}

TEST_F(LockReference, BothReadTheSameVersionSets) {
  const std::vector<std::string> texts = {
      "# scitex-container lock\n# image-sha256: abc\n[pip]\nnumpy==1.0\n[dpkg]\nlibc6=2.36\n"
      "[node]\n{\"dependencies\": {\"npm\": {\"version\": \"9.8.1\"}}}\n",
      "[pip]\r\n NumPy == 1.0 \r\n-e git+https://x/y#egg=z\r\nfoo @ file:///tmp/foo\r\n\r\n"
      "[dpkg]\r\nlibc6=2.36\r\n  bash = 5.2 \r\n[node]\r\n{\r\n  \"dependencies\": "
      "{\"n\": {\"version\": \"1\"}}\r\n}\r\n",
      "[pip]\r\xc2\xa0 Foo == 1.0 "
      "\xe3\x80\x80\ra==1==2\x0c[dpkg]\xe2\x80\xa8x=1=2\x1cy=3\xc2\x85z=4\n",
      "[node]\n\n  {\n# comment inside\n   \"dependencies\": {\"a\": {\"version\": 1},"
      " \"b\": {\"version\": true}, \"c\": {\"version\": null}, \"d\": {\"version\": 1.5},"
      " \"e\": \"x\", \"f\": {}}}\n\n[dpkg]\n[pip]\nx==\n",
      "# nothing but comments\n\n",
      "",
  };
  for (const auto& text : texts) {
    nlohmann::json ours = as_json(parse_lock(text, "x.lock"));
    EXPECT_EQ(ours, reference_reads(text)) << "text: " << text;
  }
}

TEST_F(LockReference, WritesTheSameBytesAndReadsEachOther) {
  PackageLock l;
  l.pip = {{"numpy", "2.1.0"}, {"-e git+https://x/y.git#egg=y", ""}, {"attrs", "23.1"}};
  l.dpkg = {{"libc6", "2.36-9+deb12u4"}, {"g++", "4:12.2.0-3"}, {"empty", ""}};
  l.node = "\n{\n  \"dependencies\": {\n    \"npm\": {\"version\": \"10.2.0\"}\n  }\n}\n";
  test::write_file(tmp_ / "spec.json",
                   nlohmann::json{{"pip", l.pip}, {"dpkg", l.dpkg}, {"node", l.node}}.dump());
  python({"write", tmp_ / "spec.json", tmp_ / "py.lock"});
  std::string written = test::read_file(tmp_ / "py.lock");
  EXPECT_EQ(format_lock(l), written);
  PackageLock back = parse_lock(written, "py.lock");
  EXPECT_EQ(as_json(back), reference_reads(written));

  // Ours with facts: the reference reads the same version set.
  l.facts = {{"image-sha256", "00ff"}, {"builder", "apptainer version 1.3.4"}};
  std::string ours = format_lock(l);
  EXPECT_EQ(as_json(parse_lock(ours, "ours.lock")), reference_reads(ours));

  // The reference's writer with names it does not lower-case itself.
  test::write_file(tmp_ / "spec2.json",
                   R"({"pip": {"NumPy": "1.0", "Editable Thing": ""}, "dpkg": {}, "node": ""})");
  python({"write", tmp_ / "spec2.json", tmp_ / "py2.lock"});
  std::string text2 = test::read_file(tmp_ / "py2.lock");
  EXPECT_EQ(as_json(parse_lock(text2, "py2.lock")), reference_reads(text2));
}

TEST_F(LockReference, SameDiffAndSummary) {
  std::vector<std::pair<std::string, std::string>> pairs = {
      {"[pip]\na==1\nb==2\n[dpkg]\nx=1\n", "[pip]\na==1\nb==3\n[dpkg]\ny=1\n"},
      {"[pip]\na==1\n", "[pip]\na==1\n"},
      {"[node]\n{\"dependencies\": {\"n\": {\"version\": \"1\"}}}\n", "[node]\n"},
  };
  std::string many_a = "[dpkg]\n", many_b = "[dpkg]\n";
  for (int i = 0; i < 15; ++i) {
    many_a += "pkg" + std::to_string(i) + "=1.0\n";
    many_b += "pkg" + std::to_string(i) + "=1." + std::to_string(i) + "\n";
  }
  pairs.push_back({many_a, many_b});
  for (const auto& [ta, tb] : pairs) {
    test::write_file(tmp_ / "a.lock", ta);
    test::write_file(tmp_ / "b.lock", tb);
    nlohmann::json ref = python({"compare", tmp_ / "a.lock", tmp_ / "b.lock"});
    LockDiff d = compare_locks(parse_lock(ta, "a"), parse_lock(tb, "b"));
    EXPECT_EQ(ref["summary"], d.summary());
    EXPECT_EQ(ref["identical"], d.identical());
    nlohmann::json changed = nlohmann::json::object();
    for (const auto& [n, ab] : d.changed) changed[n] = {ab.first, ab.second};
    EXPECT_EQ(ref["changed"], changed);
    EXPECT_EQ(ref["only_in_a"], nlohmann::json(d.only_in_a));
    EXPECT_EQ(ref["only_in_b"], nlohmann::json(d.only_in_b));
  }
}

// --- [rpm]: SifStore's own section, before [pip] ------------------------------------------

const char* const kRpmLock =
    "# scitex-container lock\n# image-sha256: ab\n[rpm]\nalpha=1.0-1.x86_64\n"
    "beta=2:2.0-3.x86_64\ngpg-pubkey=d28c0ee5-6b15f236.(none)\nkernel=5.14-1.x86_64\n"
    "kernel=5.15-1.x86_64\n[pip]\nnumpy==1.0\n[dpkg]\nlibc6=2.36\n"
    "[node]\n{\"dependencies\": {\"npm\": {\"version\": \"9.8.1\"}}}\n";

TEST(LockRpm, ReadsWritesAndPlacesTheSectionBeforePip) {
  PackageLock l = parse_lock(kRpmLock, "x.lock");
  EXPECT_EQ(l.rpm, (std::vector<std::string>{"alpha=1.0-1.x86_64", "beta=2:2.0-3.x86_64",
                                             "gpg-pubkey=d28c0ee5-6b15f236.(none)",
                                             "kernel=5.14-1.x86_64", "kernel=5.15-1.x86_64"}));
  EXPECT_EQ(format_lock(l), kRpmLock);
  auto set = l.version_set();
  EXPECT_EQ(set.at("rpm:kernel"), "5.14-1.x86_64 5.15-1.x86_64");
  EXPECT_EQ(set.at("rpm:beta"), "2:2.0-3.x86_64");
  // Unsorted input reads sorted; an empty section is not written.
  EXPECT_EQ(parse_lock("[rpm]\nb=1-1.x\na=1-1.x\n", "x").rpm,
            (std::vector<std::string>{"a=1-1.x", "b=1-1.x"}));
  PackageLock none;
  EXPECT_EQ(format_lock(none), "# scitex-container lock\n[pip]\n[dpkg]\n[node]\n\n");
}

TEST(LockRpm, RefusesWhatTheReferenceWouldMisread) {
  EXPECT_NE(parse_error("[pip]\na==1\n[rpm]\nx=1-1.x\n")
                .find("x.lock:3: section [rpm] after [pip] (line 1): [rpm] goes before [pip]"),
            std::string::npos);
  EXPECT_NE(parse_error("[node]\n[rpm]\n").find("section [rpm] after [node]"), std::string::npos);
  EXPECT_NE(parse_error("[rpm]\nbash\n").find("x.lock:2: rpm line 'bash' is not"),
            std::string::npos);
  EXPECT_NE(parse_error("[rpm]\n=1-1.x\n").find("x.lock:2: rpm line"), std::string::npos);
  EXPECT_NE(parse_error("[rpm]\nbash 5=1\n").find("x.lock:2: rpm line"), std::string::npos);
  EXPECT_NE(parse_error("[rpm]\na=1\n[rpm]\n").find("section [rpm] given twice"),
            std::string::npos);
  PackageLock bad;
  bad.rpm = {"no-equals"};
  EXPECT_THROW(format_lock(bad), Error);
  bad.rpm = {"a=1 2"};
  EXPECT_THROW(format_lock(bad), Error);
  bad.rpm = {"#a=1"};
  EXPECT_THROW(format_lock(bad), Error);
}

TEST(LockRpm, DiffNamesTheDriftedPackage) {
  PackageLock a = parse_lock("[rpm]\nalpha=1.0-1.x86_64\nkernel=5.14-1.x86_64\n", "a");
  PackageLock b = parse_lock(
      "[rpm]\nalpha=1.1-1.x86_64\nkernel=5.14-1.x86_64\nkernel=5.15-1.x86_64\n"
      "new=1-1.noarch\n",
      "b");
  LockDiff d = compare_locks(a, b);
  EXPECT_EQ(d.changed.at("rpm:alpha"),
            std::make_pair(std::string("1.0-1.x86_64"), std::string("1.1-1.x86_64")));
  EXPECT_EQ(d.changed.at("rpm:kernel").second, "5.14-1.x86_64 5.15-1.x86_64");
  EXPECT_EQ(d.only_in_b.at("rpm:new"), "1-1.noarch");
  EXPECT_TRUE(compare_locks(a, a).identical());
}

TEST_F(LockReference, ReadsTheSameSetsWithAndWithoutRpmAndConda) {
  PackageLock with = parse_lock(kRpmLock, "with.lock");
  ASSERT_FALSE(with.rpm.empty());
  with.conda = {"/opt/conda python=3.11.8=hab00c5b_0_cpython conda-forge",
                "/opt/conda/envs/ml numpy=1.26.4=py311_0"};
  PackageLock without = with;
  without.rpm.clear();
  without.conda.clear();
  ASSERT_NE(format_lock(with).find("[conda]\n/opt/conda python"), std::string::npos);
  nlohmann::json ref_with = reference_reads(format_lock(with));
  nlohmann::json ref_without = reference_reads(format_lock(without));
  EXPECT_EQ(ref_with, ref_without);
  // ... and they are ours, less our own section.
  EXPECT_EQ(ref_with, as_json(without));
  EXPECT_EQ(ref_with["pip"], nlohmann::json({{"numpy", "1.0"}}));
  EXPECT_EQ(ref_with["dpkg"], nlohmann::json({{"libc6", "2.36"}}));
}

}  // namespace
}  // namespace sifstore
