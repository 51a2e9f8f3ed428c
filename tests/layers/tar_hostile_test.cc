// TarReader on hostile and broken input: each case fails with a clear error
// that names the entry (path when known, header offset always).
#include <gtest/gtest.h>

#include "layers/archive/tar_reader.h"
#include "tests/layers/archive_test_util.h"

namespace berth::layers::archive {
namespace {

using namespace testing;

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const std::string kGood = RawHeader("good", '0', 3).str() + padded("abc");

TEST(TarHostile, BadChecksum) {
  RawHeader h("victim", '0', 0);
  std::string blk = h.str();
  blk[0] = 'V';  // after the checksum was computed
  std::string err = error_of(kGood + blk + kEndBlocks);
  EXPECT_HAS(err, "header at offset 1024");
  EXPECT_HAS(err, "checksum");
  // Not a tar at all.
  EXPECT_HAS(error_of(std::string(2048, 'A')), "checksum");
}

TEST(TarHostile, SignedChecksumIsAccepted) {
  RawHeader h("caf\xe9", '0', 0);  // a byte >= 0x80 makes the sums differ
  std::string blk = h.str(false);
  std::memset(blk.data() + 148, ' ', 8);
  int sum = 0;
  for (char c : blk) sum += static_cast<signed char>(c);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06o", sum);
  std::memcpy(blk.data() + 148, buf, 7);
  auto got = parse(blk + kEndBlocks);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)[0].entry.path, "caf\xe9");
}

TEST(TarHostile, GarbageNumericFields) {
  struct Case {
    size_t off, len;
    const char* field;
  } cases[] = {{100, 8, "mode"}, {108, 8, "uid"}, {116, 8, "gid"}, {136, 12, "mtime"}};
  for (const Case& c : cases) {
    RawHeader h("victim", '0', 0);
    h.put(c.off, std::string(c.len - 1, '9'));
    std::string err = error_of(kGood + h.str() + kEndBlocks);
    EXPECT_HAS(err, "entry \"victim\"");
    EXPECT_HAS(err, std::string("invalid ") + c.field);
  }
  RawHeader s("victim", '0', 0);
  s.put(124, "12x4");
  std::string err = error_of(kGood + s.str());
  EXPECT_HAS(err, "header at offset 1024");
  EXPECT_HAS(err, "invalid size field");
  RawHeader d("dev", '3', 0);
  d.put(329, "zz");
  EXPECT_HAS(error_of(d.str()), "invalid devmajor");
}

TEST(TarHostile, AbsurdSizes) {
  RawHeader h("huge", '0', 0);
  h.gnu_magic().base256(124, 12, (1ull << 62) + 1);
  std::string err = error_of(h.str());
  EXPECT_HAS(err, "out of range");
  EXPECT_HAS(err, "offset 0");
  RawHeader neg("neg", '0', 0);
  neg.fill(124, 12, '\xff');
  EXPECT_HAS(error_of(neg.str()), "out of range");
  std::string x = pax_record("size", "99999999999999999999999");
  EXPECT_HAS(error_of(pax_header(x) + RawHeader("p", '0', 0).str()), "invalid PAX size");
  x = pax_record("size", "4611686018427387905");  // 2^62 + 1
  EXPECT_HAS(error_of(pax_header(x) + RawHeader("p", '0', 0).str()), "entry \"p\"");
}

TEST(TarHostile, PaxHeaderTooLarge) {
  RawHeader h("PaxHeaders.0/x", 'x', (1 << 20) + 1);
  std::string err = error_of(kGood + h.str());
  EXPECT_HAS(err, "header at offset 1024");
  EXPECT_HAS(err, "exceeds the limit");
}

TEST(TarHostile, PaxRecordLengthsInconsistent) {
  const std::string bad[] = {
      "99 path=a\n",                    // longer than the header
      "5 path=a\n",                     // shorter than its own text
      "x path=a\n",                     // not a number
      "8 patha\n",                      // no '='
      std::string("11 path=ab\0", 11),  // no newline
      "-1 path=a\n",                    // negative
      "12 =novalue\n",                  // empty key
      "9 path=a",                       // the header ends first
  };
  for (const std::string& records : bad) {
    std::string err = error_of(pax_header(records) + RawHeader("f", '0', 0).str() + kEndBlocks);
    EXPECT_HAS(err, "header at offset 0") << records;
    EXPECT_HAS(err, "PAX record") << records;
  }
}

TEST(TarHostile, PaxValuesInvalid) {
  auto err = [](std::string_view key, std::string_view value) {
    return error_of(pax_header(pax_record(key, value)) + RawHeader("victim", '0', 0).str());
  };
  EXPECT_HAS(err("uid", "4294967296"), "entry \"victim\"");
  EXPECT_HAS(err("uid", "-1"), "invalid PAX uid");
  EXPECT_HAS(err("gid", "1e3"), "invalid PAX gid");
  EXPECT_HAS(err("mtime", "12.3.4"), "invalid PAX mtime");
  EXPECT_HAS(err("LIBARCHIVE.xattr.user.x", "!!!"), "invalid PAX LIBARCHIVE.xattr.user.x");
  EXPECT_HAS(err("path", std::string_view("a\0b", 3)), "NUL");
  EXPECT_HAS(err("path", "/"), "(no error)");
  EXPECT_HAS(err("GNU.sparse.major", "2"), "unsupported GNU sparse format version 2.");
}

TEST(TarHostile, LongNameTooLong) {
  RawHeader h("././@LongLink", 'L', (64 << 10) + 1);
  h.gnu_magic();
  std::string err = error_of(h.str());
  EXPECT_HAS(err, "GNU long name");
  EXPECT_HAS(err, "exceeds the limit");
}

TEST(TarHostile, Truncation) {
  std::string tar = kGood + RawHeader("body", '0', 1000).str() + std::string(1024, 'b');
  // Cut inside a header.
  std::string err = error_of(tar.substr(0, 1024 + 300));
  EXPECT_HAS(err, "truncated header at offset 1024");
  // Cut inside a body, with any feed split.
  for (size_t step : {size_t{0}, size_t{1}, size_t{333}}) {
    err = error_of(tar.substr(0, 1024 + 512 + 700), step);
    EXPECT_HAS(err, "entry \"body\"");
    EXPECT_HAS(err, "300 bytes before the end");
  }
  // Cut inside the padding.
  err = error_of(tar.substr(0, 1024 + 512 + 1010));
  EXPECT_HAS(err, "entry \"body\"");
  EXPECT_HAS(err, "padding");
  // An extension header and nothing after it.
  err = error_of(pax_header(pax_record("path", "p")));
  EXPECT_HAS(err, "extension header");
  err = error_of(pax_header(pax_record("path", "p")) + kEndBlocks);
  EXPECT_HAS(err, "end-of-archive");
  // Inside the end-of-archive marker.
  err = error_of(kGood + std::string(512 + 100, '\0'));
  EXPECT_HAS(err, "end-of-archive block");
}

TEST(TarHostile, LoneZeroBlockThenData) {
  std::string err = error_of(std::string(512, '\0') + kGood);
  EXPECT_HAS(err, "lone zero block");
}

TEST(TarHostile, UnsupportedTypesAndEmptyNames) {
  EXPECT_HAS(error_of(RawHeader("x", 'Z', 0).str()), "unsupported entry type 'Z'");
  EXPECT_HAS(error_of(RawHeader("x", '\x01', 0).str()), "unsupported entry type 0x01");
  EXPECT_HAS(error_of(RawHeader("x", 'M', 0).str()), "multi-volume");
  EXPECT_HAS(error_of(RawHeader("", '0', 0).str()), "empty path");
  EXPECT_HAS(error_of(RawHeader("h", '1', 0).str()), "hard link with an empty target");
}

TEST(TarHostile, SparseMapsThatLie) {
  auto sparse01 = [](std::string_view map, std::string_view size, uint64_t stored) {
    std::string x = pax_record("GNU.sparse.major", "0") + pax_record("GNU.sparse.minor", "1") +
                    pax_record("GNU.sparse.size", size) + pax_record("GNU.sparse.map", map);
    return pax_header(x) + RawHeader("sp", '0', stored).str() + padded(std::string(stored, 'd'));
  };
  EXPECT_HAS(error_of(sparse01("0,4,2,4", "16", 8)), "overlap");
  EXPECT_HAS(error_of(sparse01("10,4", "12", 4)), "past the file's size");
  EXPECT_HAS(error_of(sparse01("0,4", "16", 5)), "covers 4 bytes but the member stores 5");
  EXPECT_HAS(error_of(sparse01("0,4,1", "16", 4)), "odd number");
  EXPECT_HAS(error_of(sparse01("0,x", "16", 4)), "malformed GNU.sparse.map");
  EXPECT_HAS(error_of(sparse01("18446744073709551615,1", "16", 1)), "past the file's size");
  // 1.0 with a map that claims too many segments or runs off the member.
  std::string x10 = pax_record("GNU.sparse.major", "1") + pax_record("GNU.sparse.minor", "0") +
                    pax_record("GNU.sparse.realsize", "16");
  std::string tar = pax_header(x10) + RawHeader("sp", '0', 512).str() + padded("999999999\n");
  EXPECT_HAS(error_of(tar), "too large");
  std::string lines = "300\n";
  while (lines.size() < 512) lines += "0\n";
  tar = pax_header(x10) + RawHeader("sp", '0', 512).str() + lines;
  EXPECT_HAS(error_of(tar), "runs past");
  tar = pax_header(x10) + RawHeader("sp", '0', 512).str() + std::string(512, '7');
  EXPECT_HAS(error_of(tar), "malformed sparse map");
}

TEST(TarHostile, ErrorsAreSticky) {
  RecordingSink sink;
  TarReader reader(sink);
  auto r = reader.feed(std::string(512, 'A'));
  ASSERT_FALSE(r);
  auto again = reader.feed(kGood);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, r.error().message);
  EXPECT_FALSE(reader.finish());
  EXPECT_TRUE(sink.members.empty());
}

TEST(TarHostile, SinkErrorsStopTheReader) {
  struct Refusing : RecordingSink {
    Result<void> on_data(std::string_view) override { return fail(Errc::io, "disk full"); }
  } sink;
  TarReader reader(sink);
  auto r = reader.feed(kGood);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "disk full");
  EXPECT_EQ(r.error().code, Errc::io);
}

}  // namespace
}  // namespace berth::layers::archive
