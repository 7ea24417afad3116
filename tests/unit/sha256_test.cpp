#include "core/sha256.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/error.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::run;
using test::TempDir;

TEST(Sha256, KnownVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, FileMatchesSha256sum) {
  TempDir dir;
  // Sizes around the 1 MiB read size, and empty.
  for (size_t size :
       {size_t(0), size_t(1), size_t(1) << 20, (size_t(1) << 20) + 7, size_t(3) << 20}) {
    std::string data(size, '\0');
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
    std::string path = dir / ("f" + std::to_string(size));
    test::write_file(path, data);
    auto r = run({"sha256sum", path});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(sha256_file(path), r.out.substr(0, 64)) << size;
    EXPECT_EQ(sha256_file(path), sha256_hex(data)) << size;
  }
}

TEST(Sha256, FileErrorsNameThePath) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  for (const std::string& p : {dir / "fifo", dir.path(), dir / "missing"}) {
    try {
      sha256_file(p);
      ADD_FAILURE() << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sifstore
