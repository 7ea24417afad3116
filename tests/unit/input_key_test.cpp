#include "core/input_key.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "core/deffile.h"
#include "core/names.h"
#include "core/sha256.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::exists;
using test::read_file;
using test::TempDir;
using test::write_file;

InputKeyParts sample() {
  InputKeyParts p;
  p.def_text = "Bootstrap: scratch\n%post\n    apt-get install -y hello\n";
  p.build_args = {{"v", "1"}};
  p.secret_names = {"token"};
  p.builder = "apptainer";
  p.builder_args = {"--fakeroot"};
  p.builder_version = "apptainer version 1.3.4";
  p.options = {{"capture", "static"}, {"pin-apt", "0"}};
  p.bases = {{1, "docker://docker.io/library/debian@sha256:" + std::string(64, 'a')}};
  p.sources = {"file 0644 " + std::string(64, 'b') + " data/hello.txt"};
  return p;
}

TEST(InputKey, UnchangedInputsGiveTheSameKey) {
  EXPECT_EQ(input_key(sample()), input_key(sample()));
  EXPECT_EQ(input_key(sample()).size(), 64u);
  EXPECT_EQ(input_key(sample()), sha256_hex(input_key_text(sample())));
}

TEST(InputKey, EachInputChangesTheKey) {
  const std::string key = input_key(sample());
  std::vector<std::pair<std::string, std::function<void(InputKeyParts&)>>> changes = {
      {"def", [](InputKeyParts& p) { p.def_text += "\n"; }},
      {"build arg value", [](InputKeyParts& p) { p.build_args["v"] = "2"; }},
      {"build arg name",
       [](InputKeyParts& p) {
         p.build_args = {{"w", "1"}};
       }},
      {"secret name", [](InputKeyParts& p) { p.secret_names = {"other"}; }},
      {"builder", [](InputKeyParts& p) { p.builder = "/usr/local/bin/apptainer"; }},
      {"builder arg", [](InputKeyParts& p) { p.builder_args.push_back("--notest"); }},
      {"builder arg order",
       [](InputKeyParts& p) {
         p.builder_args = {"--notest", "--fakeroot"};
       }},
      {"builder version", [](InputKeyParts& p) { p.builder_version = "apptainer version 1.3.5"; }},
      {"option", [](InputKeyParts& p) { p.options["pin-apt"] = "1"; }},
      {"base digest", [](InputKeyParts& p) { p.bases[1].back() = 'c'; }},
      {"base stage",
       [](InputKeyParts& p) {
         p.bases = {{2, p.bases[1]}};
       }},
      {"source content", [](InputKeyParts& p) { p.sources[0][14] = 'c'; }},
      {"source added", [](InputKeyParts& p) { p.sources.push_back("dir 0755 - data"); }},
  };
  for (auto& [what, change] : changes) {
    InputKeyParts p = sample();
    change(p);
    EXPECT_NE(input_key(p), key) << what;
  }
}

TEST(InputKey, AValueCannotForgeAnotherLine) {
  InputKeyParts a = sample();
  a.builder_args = {"x\nbuilder-arg y"};
  InputKeyParts b = sample();
  b.builder_args = {"x", "y"};
  EXPECT_NE(input_key(a), input_key(b));
  EXPECT_EQ(input_key_text(a).find("\nbuilder-arg y"), std::string::npos);
}

// A %files tree: the source lines of def_inputs() under a def directory.
struct Sources {
  TempDir t;
  std::string def_dir = t / "proj";
  std::string root = t / "store";
  Sources() {
    write_file(def_dir + "/base.def",
               "Bootstrap: scratch\n%files\n    data /opt/data\n    top.txt /top.txt\n");
    write_file(def_dir + "/data/a.txt", "a\n");
    write_file(def_dir + "/data/sub/b.bin", std::string(5000, 'b'));
    write_file(def_dir + "/top.txt", "top\n");
    ::mkdir(root.c_str(), 0755);
  }
  std::vector<std::string> lines(size_t* hashed = nullptr) const {
    Dir r = Dir::open(root);
    SourceHashCache cache(r);
    auto out = source_lines(def_inputs(read_def_file(def_dir + "/base.def")), def_dir, cache);
    cache.save();
    if (hashed) *hashed = cache.hashed();
    return out;
  }
  std::string key() const {
    InputKeyParts p = sample();
    p.sources = lines();
    return input_key(p);
  }
  static void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }
};

TEST(InputKey, SourceLinesNameEveryFileOfATreeRelativeToTheDef) {
  Sources s;
  auto lines = s.lines();
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "dir 0755 - data");
  EXPECT_EQ(lines[1], "file 0644 " + sha256_hex("a\n") + " data/a.txt");
  EXPECT_EQ(lines[2], "dir 0755 - data/sub");
  EXPECT_EQ(lines[3], "file 0644 " + sha256_hex(std::string(5000, 'b')) + " data/sub/b.bin");
  EXPECT_EQ(lines[4], "file 0644 " + sha256_hex("top\n") + " top.txt");
}

TEST(InputKey, SourceChangesChangeTheKey) {
  Sources s;
  const std::string key = s.key();
  EXPECT_EQ(s.key(), key) << "unchanged sources";

  write_file(s.def_dir + "/data/sub/b.bin", std::string(4999, 'b') + "c");  // same size
  const std::string content = s.key();
  EXPECT_NE(content, key) << "content in a tree";

  ::chmod((s.def_dir + "/data/sub/b.bin").c_str(), 0755);
  const std::string mode = s.key();
  EXPECT_NE(mode, content) << "file mode";

  ::chmod((s.def_dir + "/data/sub").c_str(), 0700);
  const std::string dir_mode = s.key();
  EXPECT_NE(dir_mode, mode) << "directory mode";

  write_file(s.def_dir + "/data/new.txt", "");
  const std::string added = s.key();
  EXPECT_NE(added, dir_mode) << "a file added to a tree";

  ::unlink((s.def_dir + "/data/new.txt").c_str());
  EXPECT_EQ(s.key(), dir_mode) << "the file removed again";

  ::unlink((s.def_dir + "/top.txt").c_str());
  EXPECT_NE(s.key(), dir_mode) << "a source gone";
}

TEST(InputKey, UnchangedSourcesAreNotHashedAgain) {
  Sources s;
  size_t hashed = 0;
  s.lines(&hashed);
  EXPECT_EQ(hashed, 3u);
  EXPECT_TRUE(exists(s.root + "/" + kSourceIdentitiesFile));
  Sources::settle();
  // The cache file is stamped after the files' ctimes only once the clock
  // moved on: the first rewrite makes the records trusted.
  ::utimensat(AT_FDCWD, (s.root + "/" + kSourceIdentitiesFile).c_str(), nullptr, 0);
  auto again = s.lines(&hashed);
  EXPECT_EQ(hashed, 0u);
  EXPECT_EQ(again, s.lines());

  // A same-size overwrite with the old mtime restored still changes ctime.
  struct stat before;
  ASSERT_EQ(::stat((s.def_dir + "/top.txt").c_str(), &before), 0);
  write_file(s.def_dir + "/top.txt", "TOP\n");
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ::utimensat(AT_FDCWD, (s.def_dir + "/top.txt").c_str(), times, 0);
  auto changed = s.lines(&hashed);
  EXPECT_EQ(hashed, 1u);
  EXPECT_EQ(changed[4], "file 0644 " + sha256_hex("TOP\n") + " top.txt");
}

TEST(InputKey, AGarbledCacheIsIgnored) {
  Sources s;
  write_file(s.root + "/" + kSourceIdentitiesFile, "sifstore source identities 1\n" +
                                                       std::string(64, 'f') + " 1 2 3 4 " +
                                                       s.def_dir + "/top.txt\nnonsense\n");
  size_t hashed = 0;
  auto lines = s.lines(&hashed);
  EXPECT_EQ(hashed, 3u);
  EXPECT_EQ(lines[4], "file 0644 " + sha256_hex("top\n") + " top.txt");
}

}  // namespace
}  // namespace sifstore
