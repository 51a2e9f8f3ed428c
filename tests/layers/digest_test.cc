#include "layers/archive/digest.h"

#include <gtest/gtest.h>

namespace berth::layers::archive {
namespace {

TEST(Digest, KnownVectors) {
  EXPECT_EQ(sha256("").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256("abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // FIPS 180-2's 448-bit message, and a million 'a's fed in odd pieces.
  EXPECT_EQ(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;
  std::string a(997, 'a');
  size_t left = 1000000;
  while (left) {
    size_t n = std::min(left, a.size());
    h.update(std::string_view(a).substr(0, n));
    left -= n;
  }
  EXPECT_EQ(h.bytes(), 1000000u);
  EXPECT_EQ(h.finish().hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // finish() starts over.
  h.update("abc");
  EXPECT_EQ(h.finish(), sha256("abc"));
}

TEST(Digest, ParseAndFormat) {
  std::string s = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto d = Digest::parse(s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->to_string(), s);
  EXPECT_EQ(*d, sha256(""));
  EXPECT_TRUE(Digest::valid(s));
  const char* bad[] = {
      "",
      "sha256:",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
      "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  };
  for (const char* b : bad) {
    auto r = Digest::parse(b);
    EXPECT_FALSE(r) << b;
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::invalid_argument);
    }
  }
  EXPECT_NE(Digest::parse("sha512:00").error().message.find("sha512"), std::string::npos);
}

TEST(Digest, MovedHasherKeepsItsState) {
  Sha256 a;
  a.update("ab");
  Sha256 b = std::move(a);
  b.update("c");
  EXPECT_EQ(b.finish(), sha256("abc"));
}

}  // namespace
}  // namespace berth::layers::archive
