#include "core/shared_perm.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

mode_t mode_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// git's calc_shared_perm and adjust_shared_perm: bits are added, never
// taken away; no write bit where the owner has none; directories setgid.
TEST(SharedPerm, ModeBitsAsGit) {
  EXPECT_EQ(shared_mode_bits(SharedMode::kUmask, S_IFREG | 0600), mode_t{S_IFREG | 0600});
  EXPECT_EQ(shared_mode_bits(SharedMode::kGroup, S_IFREG | 0600), mode_t{S_IFREG | 0660});
  EXPECT_EQ(shared_mode_bits(SharedMode::kGroup, S_IFREG | 0644), mode_t{S_IFREG | 0664});
  EXPECT_EQ(shared_mode_bits(SharedMode::kAll, S_IFREG | 0600), mode_t{S_IFREG | 0664});
  EXPECT_EQ(shared_mode_bits(SharedMode::kGroup, S_IFREG | 0444), mode_t{S_IFREG | 0444});
  EXPECT_EQ(shared_mode_bits(SharedMode::kGroup, S_IFREG | 0400), mode_t{S_IFREG | 0440});
  EXPECT_EQ(shared_mode_bits(SharedMode::kGroup, S_IFREG | 0700), mode_t{S_IFREG | 0770});
  EXPECT_EQ(shared_mode_bits(SharedMode::kGroup, S_IFDIR | 0700), mode_t{S_IFDIR | 02770});
  EXPECT_EQ(shared_mode_bits(SharedMode::kGroup, S_IFDIR | 0755), mode_t{S_IFDIR | 02775});
  EXPECT_EQ(shared_mode_bits(SharedMode::kAll, S_IFDIR | 0700), mode_t{S_IFDIR | 02775});
  EXPECT_EQ(shared_mode_bits(SharedMode::kUmask, S_IFDIR | 0700), mode_t{S_IFDIR | 0700});
}

TEST(SharedPerm, ParsesTheThreeWords) {
  EXPECT_EQ(parse_shared_mode("group"), SharedMode::kGroup);
  EXPECT_EQ(parse_shared_mode("all"), SharedMode::kAll);
  EXPECT_EQ(parse_shared_mode("umask"), SharedMode::kUmask);
  EXPECT_FALSE(parse_shared_mode("true"));
  EXPECT_FALSE(parse_shared_mode(""));
  for (auto m : {SharedMode::kUmask, SharedMode::kGroup, SharedMode::kAll})
    EXPECT_EQ(parse_shared_mode(shared_mode_name(m)), m);
}

// Every way a Dir creates something gives it the shared mode, even under a
// umask of 077; subdirectories inherit the setting.
TEST(SharedPerm, DirCreatesSharedFiles) {
  test::TempDir t;
  mode_t old = ::umask(077);
  {
    Dir d = Dir::open(t.path());
    d.set_shared(SharedMode::kGroup);
    Dir sub = d.subdir_or_create("layer");
    EXPECT_EQ(sub.shared(), SharedMode::kGroup);
    EXPECT_EQ(mode_of(t / "layer"), mode_t{02770});
    sub.write_file_atomic("a", "x");
    EXPECT_EQ(mode_of(t / "layer/a"), mode_t{0660});
    EXPECT_TRUE(sub.create_exclusive("b", "y"));
    EXPECT_EQ(mode_of(t / "layer/b"), mode_t{0660});
    Fd f = sub.create_file("c", O_WRONLY, 0644, "cannot write c");
    EXPECT_EQ(mode_of(t / "layer/c"), mode_t{0660});
    // A file another program wrote (the builder), published by a rename.
    int raw = ::open((t / "layer/.partial").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(raw, 0);
    ::close(raw);
    EXPECT_EQ(mode_of(t / "layer/.partial"), mode_t{0600});
    sub.rename(".partial", "image");
    EXPECT_EQ(mode_of(t / "layer/image"), mode_t{0660});

    Dir plain = Dir::open(t.path());
    EXPECT_EQ(plain.shared(), SharedMode::kUmask);
    plain.write_file_atomic("mine", "z");
    EXPECT_EQ(mode_of(t / "mine"), mode_t{0600});
  }
  ::umask(old);
}

TEST(SharedPerm, PermissionErrorsNameTheRightMissing) {
  if (::geteuid() == 0) GTEST_SKIP() << "root is never denied";
  test::TempDir t;
  Dir d = Dir::open(t.path());
  Dir sub = d.subdir_or_create("ro");
  ::chmod((t / "ro").c_str(), 0555);
  try {
    sub.write_file_atomic("x", "x");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write " + (t / "ro/x") +
                                         ": permission denied (needs write permission on "
                                         "directory " +
                                         (t / "ro") + ")");
  }
  ::chmod((t / "ro").c_str(), 0755);
}

}  // namespace
}  // namespace sifstore
