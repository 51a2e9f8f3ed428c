// Compression: detection, round trips through every codec and backend, any
// feed split, multi-member gzip, interoperability with the gzip/igzip/pigz/
// zstd command-line tools, and corrupt or truncated streams.
#include "layers/archive/compression.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/layers/archive_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::layers::archive {
namespace {

using berth::testing::run_command;
using berth::testing::TempDir;
using testing::read_file;
using testing::write_file;

std::string sample(size_t n, unsigned seed = 1) {
  // Compressible but not trivial: words from a small vocabulary, some noise.
  static const char* words[] = {"layer ", "tar ", "gzip ", "berth ", "file\n", "0123 ", "x"};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) {
    if (rng() % 16 == 0)
      s.push_back(static_cast<char>(rng()));
    else
      s += words[rng() % 7];
  }
  s.resize(n);
  return s;
}

bool have(const char* tool) {
  return run_command(std::string("command -v ") + tool).status == 0;
}

struct Codec {
  Compression c;
  GzipBackend backend;
  int level;
  const char* name;
};

const Codec kCodecs[] = {
    {Compression::gzip, GzipBackend::isal, 0, "isal-0"},
    {Compression::gzip, GzipBackend::isal, 1, "isal-1"},
    {Compression::gzip, GzipBackend::isal, 3, "isal-3"},
    {Compression::gzip, GzipBackend::zlib, 1, "zlib-1"},
    {Compression::gzip, GzipBackend::zlib, 6, "zlib-6"},
    {Compression::gzip, GzipBackend::zlib, 9, "zlib-9"},
    {Compression::zstd, GzipBackend::isal, 1, "zstd-1"},
    {Compression::zstd, GzipBackend::isal, 9, "zstd-9"},
};

Result<std::string> decompress_split(std::string_view data, Compression c, GzipBackend b,
                                     size_t step, size_t out_buf,
                                     TrailingData trailing = TrailingData::reject) {
  auto d = BERTH_TRY(make_decompressor(c, {.gzip_backend = b, .trailing = trailing}));
  DecompressStream s(std::move(d), out_buf);
  std::string out;
  auto sink = [&](std::string_view chunk) -> Result<void> {
    out.append(chunk);
    return {};
  };
  for (size_t i = 0; i < data.size(); i += step) {
    auto r = s.feed(data.substr(i, step), sink);
    if (!r) return std::unexpected(r.error());
  }
  auto r = s.finish(sink);
  if (!r) return std::unexpected(r.error());
  return out;
}

TEST(Compression, Detects) {
  EXPECT_EQ(detect_compression("\x1f\x8b\x08"), Compression::gzip);
  EXPECT_EQ(detect_compression("\x28\xb5\x2f\xfd\x00"), Compression::zstd);
  EXPECT_EQ(detect_compression("\x50\x2a\x4d\x18"), Compression::zstd);
  EXPECT_EQ(detect_compression("BZh91AY"), Compression::bzip2);
  EXPECT_EQ(detect_compression(std::string_view("\xfd"
                                                "7zXZ\0",
                                                6)),
            Compression::xz);
  EXPECT_EQ(detect_compression("ustar"), Compression::none);
  EXPECT_EQ(detect_compression(""), Compression::none);
  for (Compression c : {Compression::bzip2, Compression::xz}) {
    auto d = make_decompressor(c);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().code, Errc::not_implemented);
    EXPECT_NE(d.error().message.find("unsupported compression"), std::string::npos);
  }
  auto r = decompress("BZh91AY&SY");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bzip2"), std::string::npos);
}

TEST(Compression, RoundTripsEveryCodec) {
  std::string data = sample(200000);
  for (const Codec& k : kCodecs) {
    SCOPED_TRACE(k.name);
    auto z = compress(data, k.c, {.gzip_backend = k.backend, .level = k.level});
    ASSERT_TRUE(z) << z.error().message;
    EXPECT_LT(z->size(), data.size());
    EXPECT_EQ(detect_compression(*z), k.c);
    for (GzipBackend b : {GzipBackend::isal, GzipBackend::zlib}) {
      auto back = decompress_split(*z, k.c, b, 65536, 256 << 10);
      ASSERT_TRUE(back) << back.error().message;
      EXPECT_TRUE(*back == data);
    }
  }
  EXPECT_EQ(*decompress(*compress("", Compression::gzip)), "");
  EXPECT_EQ(*decompress(*compress("", Compression::zstd)), "");
  EXPECT_EQ(*decompress("plain tar bytes"), "plain tar bytes");
}

TEST(Compression, TinyFeedsAndTinyOutputBuffers) {
  std::string data = sample(20000, 7);
  for (const Codec& k : kCodecs) {
    SCOPED_TRACE(k.name);
    auto z = compress(data, k.c, {.gzip_backend = k.backend, .level = k.level});
    ASSERT_TRUE(z);
    for (GzipBackend b : {GzipBackend::isal, GzipBackend::zlib}) {
      for (auto [step, out] : {std::pair{1, 4096}, {7, 1}, {4096, 3}}) {
        auto back = decompress_split(*z, k.c, b, step, out);
        ASSERT_TRUE(back) << step << "/" << out << ": " << back.error().message;
        ASSERT_TRUE(*back == data) << step << "/" << out;
      }
    }
  }
}

TEST(Compression, StreamingCompressorWithSmallPieces) {
  std::string data = sample(100000, 3);
  for (const Codec& k : kCodecs) {
    SCOPED_TRACE(k.name);
    auto c = make_compressor(k.c, {.gzip_backend = k.backend, .level = k.level});
    ASSERT_TRUE(c);
    CompressStream s(std::move(*c), 100);
    std::string z;
    auto sink = [&](std::string_view b) -> Result<void> {
      z.append(b);
      return {};
    };
    for (size_t i = 0; i < data.size(); i += 999) ASSERT_TRUE(s.feed(data.substr(i, 999), sink));
    ASSERT_TRUE(s.finish(sink));
    auto back = decompress(z);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_TRUE(*back == data);
  }
}

TEST(Compression, MultiMemberGzipAndMultiFrameZstd) {
  std::string a = sample(50000, 1), b = sample(70000, 2), c = "tail";
  for (GzipBackend w : {GzipBackend::isal, GzipBackend::zlib}) {
    std::string gz = *compress(a, Compression::gzip, {.gzip_backend = w}) +
                     *compress(b, Compression::gzip, {.gzip_backend = GzipBackend::zlib}) +
                     *compress("", Compression::gzip) + *compress(c, Compression::gzip);
    for (GzipBackend r : {GzipBackend::isal, GzipBackend::zlib}) {
      for (size_t step : {size_t{1}, size_t{13}, size_t{1 << 20}}) {
        auto back = decompress_split(gz, Compression::gzip, r, step, 1000);
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_TRUE(*back == a + b + c);
      }
    }
  }
  std::string skippable("\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11);
  std::string zst = *compress(a, Compression::zstd) + skippable + *compress(b, Compression::zstd);
  auto back = decompress_split(zst, Compression::zstd, GzipBackend::isal, 5, 777);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back == a + b);
}

TEST(Compression, TrailingGarbagePolicy) {
  std::string data = sample(10000);
  for (Compression c : {Compression::gzip, Compression::zstd}) {
    for (GzipBackend b : {GzipBackend::isal, GzipBackend::zlib}) {
      std::string z = *compress(data, c) + "garbage!";
      auto strict = decompress_split(z, c, b, 3, 4096);
      ASSERT_FALSE(strict);
      EXPECT_NE(strict.error().message.find("trailing garbage after member 1"), std::string::npos)
          << strict.error().message;
      auto lax = decompress_split(z, c, b, 3, 4096, TrailingData::ignore);
      ASSERT_TRUE(lax) << lax.error().message;
      EXPECT_TRUE(*lax == data);
      // One stray byte (shorter than a magic number) too.
      z = *compress(data, c) + "\x1f";
      EXPECT_FALSE(decompress_split(z, c, b, 1, 4096));
      EXPECT_TRUE(decompress_split(z, c, b, 1, 4096, TrailingData::ignore));
    }
  }
}

TEST(Compression, CorruptAndTruncatedStreams) {
  std::string data = sample(200000, 5);
  for (GzipBackend b : {GzipBackend::isal, GzipBackend::zlib}) {
    SCOPED_TRACE(b == GzipBackend::isal ? "isal" : "zlib");
    std::string gz = *compress(data, Compression::gzip);
    // CRC-32 (the trailer's first 4 bytes) and ISIZE (the last 4).
    std::string bad_crc = gz;
    bad_crc[bad_crc.size() - 8] ^= 1;
    auto r = decompress_split(bad_crc, Compression::gzip, b, 4096, 65536);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);
    EXPECT_NE(r.error().message.find("gzip:"), std::string::npos) << r.error().message;
    std::string bad_size = gz;
    bad_size[bad_size.size() - 1] ^= 1;
    EXPECT_FALSE(decompress_split(bad_size, Compression::gzip, b, 4096, 65536));
    // Truncated anywhere: inside the data, the trailer, the header.
    for (size_t cut : {gz.size() - 1, gz.size() - 5, gz.size() / 2, size_t{5}, size_t{1}}) {
      auto t = decompress_split(gz.substr(0, cut), Compression::gzip, b, 1000, 65536);
      ASSERT_FALSE(t) << cut;
      EXPECT_NE(t.error().message.find(cut == 1 ? "too short" : "truncated"), std::string::npos)
          << cut << ": " << t.error().message;
    }
    // Flipped bits in the deflate data.
    std::string flipped = gz;
    for (size_t i = 100; i < flipped.size() - 100; i += 997) flipped[i] ^= 0x55;
    EXPECT_FALSE(decompress_split(flipped, Compression::gzip, b, 4096, 65536));
    // Not gzip at all behind the magic.
    EXPECT_FALSE(decompress_split("\x1f\x8bnot really gzip data", Compression::gzip, b, 4, 64));
    EXPECT_FALSE(decompress_split("", Compression::gzip, b, 4, 64));
  }
  std::string zst = *compress(data, Compression::zstd);
  auto t = decompress_split(zst.substr(0, zst.size() - 3), Compression::zstd, GzipBackend::isal,
                            1000, 65536);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("truncated"), std::string::npos) << t.error().message;
  std::string bad = zst;
  bad[bad.size() - 2] ^= 1;  // the content checksum
  auto c = decompress_split(bad, Compression::zstd, GzipBackend::isal, 1000, 65536);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("zstd:"), std::string::npos) << c.error().message;
}

TEST(Compression, LevelsAreChecked) {
  EXPECT_FALSE(make_compressor(Compression::gzip, {.gzip_backend = GzipBackend::isal, .level = 4}));
  EXPECT_FALSE(
      make_compressor(Compression::gzip, {.gzip_backend = GzipBackend::zlib, .level = 10}));
  EXPECT_FALSE(make_compressor(Compression::zstd, {.level = 99}));
  EXPECT_FALSE(make_compressor(Compression::none));
  EXPECT_TRUE(make_compressor(Compression::zstd, {.level = -5}));
}

TEST(Compression, InteroperatesWithCommandLineTools) {
  TempDir dir("berth-compression");
  std::string data = sample(200000, 9);
  write_file(dir / "data", data);
  struct Tool {
    const char* name;
    const char* compress;
    const char* decompress;
    Compression c;
  } tools[] = {
      {"gzip", "gzip -c -6", "gzip -dc", Compression::gzip},
      {"igzip", "igzip -c -1", "igzip -dc", Compression::gzip},
      {"pigz", "pigz -c", "pigz -dc", Compression::gzip},
      {"zstd", "zstd -q -c -3", "zstd -q -dc", Compression::zstd},
  };
  int ran = 0;
  for (const Tool& t : tools) {
    if (!have(t.name)) continue;
    ++ran;
    SCOPED_TRACE(t.name);
    std::string z = dir / (std::string(t.name) + ".z");
    ASSERT_EQ(
        run_command(std::string(t.compress) + " < '" + (dir / "data") + "' > '" + z + "'").status,
        0);
    for (GzipBackend b : {GzipBackend::isal, GzipBackend::zlib}) {
      auto back = decompress_split(read_file(z), t.c, b, 8192, 65536);
      ASSERT_TRUE(back) << back.error().message;
      EXPECT_TRUE(*back == data);
    }
    for (const Codec& k : kCodecs) {
      if (k.c != t.c) continue;
      std::string ours = dir / (std::string("ours-") + k.name);
      write_file(ours, *compress(data, k.c, {.gzip_backend = k.backend, .level = k.level}));
      auto out = run_command(std::string(t.decompress) + " < '" + ours + "' | cmp - '" +
                             (dir / "data") + "'");
      EXPECT_EQ(out.status, 0) << k.name << ": " << out.output;
    }
  }
  if (ran == 0) GTEST_SKIP() << "no compression tools installed";
  // Concatenated members as `cat` makes them, the way gzip -d reads them.
  if (have("gzip")) {
    ASSERT_EQ(run_command("cd '" + dir.path() + "' && gzip -c data > m.gz && gzip -c data >> m.gz")
                  .status,
              0);
    auto back = decompress(read_file(dir / "m.gz"));
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == data + data);
  }
}

}  // namespace
}  // namespace berth::layers::archive
