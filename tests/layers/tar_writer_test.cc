// TarWriter's exact bytes: the conventions of Go's archive/tar (FormatPAX),
// on which reproducible layer digests depend.
#include "layers/archive/tar_writer.h"

#include <gtest/gtest.h>

#include "layers/archive/digest.h"
#include "layers/archive/pax.h"
#include "tests/layers/archive_test_util.h"

namespace berth::layers::archive {
namespace {

using namespace testing;

std::string field(const std::string& tar, size_t block, size_t off, size_t len) {
  return tar.substr(block * 512 + off, len);
}

TEST(TarWriter, UstarHeaderLayoutMatchesGo) {
  Entry e = file_entry("hello.txt", 5);
  e.uid = 1000;
  e.gid = 100;
  e.uname = "user";
  e.gname = "users";
  std::string tar = write_tar({{e, "hello"}});
  ASSERT_EQ(tar.size(), 512u + 512 + 1024);
  EXPECT_EQ(field(tar, 0, 0, 10), std::string("hello.txt\0", 10));
  EXPECT_EQ(field(tar, 0, 100, 8), std::string("0000644\0", 8));
  EXPECT_EQ(field(tar, 0, 108, 8), std::string("0001750\0", 8));
  EXPECT_EQ(field(tar, 0, 116, 8), std::string("0000144\0", 8));
  EXPECT_EQ(field(tar, 0, 124, 12), std::string("00000000005\0", 12));
  EXPECT_EQ(field(tar, 0, 136, 12), std::string("14524770400\0", 12));
  EXPECT_EQ(field(tar, 0, 154, 2), std::string("\0 ", 2));  // checksum: 6 digits, NUL, space
  EXPECT_EQ(tar[156], '0');
  EXPECT_EQ(field(tar, 0, 257, 8), std::string("ustar\0"
                                               "00",
                                               8));
  EXPECT_EQ(field(tar, 0, 265, 5), std::string("user\0", 5));
  EXPECT_EQ(field(tar, 0, 297, 6), std::string("users\0", 6));
  EXPECT_EQ(field(tar, 0, 329, 16), std::string("0000000\0"
                                                "0000000\0",
                                                16));
  EXPECT_EQ(field(tar, 0, 345, 167), std::string(167, '\0'));
  EXPECT_EQ(field(tar, 1, 0, 512), "hello" + std::string(507, '\0'));
  EXPECT_EQ(tar.substr(1024), std::string(1024, '\0'));
  // The checksum covers the block with its own field as spaces.
  std::string blk = tar.substr(0, 512);
  std::memset(blk.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : blk) sum += c;
  char want[8];
  std::snprintf(want, sizeof want, "%06o", sum);
  EXPECT_EQ(field(tar, 0, 148, 6), want);
}

TEST(TarWriter, DirectoriesGetASlashAndOtherTypesNoSize) {
  Entry d;
  d.path = "etc";
  d.type = EntryType::directory;
  d.mode = 0755;
  d.size = 99;  // ignored
  Entry s;
  s.path = "etc/l";
  s.type = EntryType::symlink;
  s.link_target = "target";
  std::string tar = write_tar({{d, ""}, {s, ""}});
  EXPECT_EQ(field(tar, 0, 0, 5), std::string("etc/\0", 5));
  EXPECT_EQ(tar[156], '5');
  EXPECT_EQ(field(tar, 0, 124, 12), std::string("00000000000\0", 12));
  EXPECT_EQ(tar[512 + 156], '2');
  EXPECT_EQ(field(tar, 1, 157, 7), std::string("target\0", 7));
  EXPECT_EQ(tar.size(), 4u * 512);
}

TEST(TarWriter, PaxHeaderForWhatUstarCannotHold) {
  Entry e = file_entry("dir/" + std::string(120, 'a'), 0);
  e.uid = 3000000000u;
  e.mtime = {1700000000, 5};
  e.xattrs = {{"user.z", "1"}, {"security.capability", "cap"}};
  std::string tar = write_tar({{e, ""}}, {.subsecond_mtime = true});
  // The 'x' header: Go's name, mode/ids/mtime 0, no uname, no devices.
  EXPECT_EQ(tar[156], 'x');
  EXPECT_EQ(field(tar, 0, 0, 30), std::string("dir/PaxHeaders.0/aaaaaaaaaaaaa"));
  EXPECT_EQ(field(tar, 0, 100, 8), std::string("0000000\0", 8));
  EXPECT_EQ(field(tar, 0, 136, 12), std::string("00000000000\0", 12));
  EXPECT_EQ(field(tar, 0, 265, 32), std::string(32, '\0'));
  EXPECT_EQ(field(tar, 0, 329, 8), std::string(8, '\0'));
  std::string records;
  pax::append_record(records, "SCHILY.xattr.security.capability", "cap");
  pax::append_record(records, "SCHILY.xattr.user.z", "1");
  pax::append_record(records, "mtime", "1700000000.000000005");
  pax::append_record(records, "path", "dir/" + std::string(120, 'a'));
  pax::append_record(records, "uid", "3000000000");
  EXPECT_EQ(field(tar, 1, 0, records.size()), records);
  size_t main = 512 + (records.size() + 511) / 512 * 512;
  // The ustar header: the name truncated to 100, ids that do not fit are 0.
  EXPECT_EQ(tar.substr(main, 100), "dir/" + std::string(96, 'a'));
  EXPECT_EQ(tar.substr(main + 108, 8), std::string("0000000\0", 8));
  EXPECT_EQ(tar.substr(main + 136, 12), std::string("14524770400\0", 12));
}

TEST(TarWriter, LongNamesThatSplitStayUstar) {
  // Go prefers ustar with a prefix over a PAX header when the name splits.
  std::string name = std::string(120, 'p') + "/" + std::string(100, 'f');
  std::string tar = write_tar({{file_entry(name, 1), "!"}});
  ASSERT_EQ(tar.size(), 512u + 512 + 1024);  // no PAX header
  EXPECT_EQ(field(tar, 0, 0, 100), std::string(100, 'f'));
  EXPECT_EQ(field(tar, 0, 345, 121), std::string(120, 'p') + '\0');
  // A directory's trailing slash is not a split point; the last '/' before is.
  Entry d;
  d.path = std::string(60, 'a') + "/" + std::string(60, 'b');
  d.type = EntryType::directory;
  tar = write_tar({{d, ""}});
  ASSERT_EQ(tar.size(), 512u + 1024);
  EXPECT_EQ(field(tar, 0, 0, 62), std::string(60, 'b') + "/" + '\0');
  EXPECT_EQ(field(tar, 0, 345, 61), std::string(60, 'a') + '\0');
  // Sub-second mtimes make Go prefer PAX even for short names.
  Entry t = file_entry("t", 0);
  t.mtime.nsec = 1;
  EXPECT_EQ(write_tar({{t, ""}}, {.subsecond_mtime = true})[156], 'x');
  EXPECT_EQ(write_tar({{t, ""}})[156], '0');
  // Both read back.
  auto got = parse(write_tar({{file_entry(name, 1), "!"}, {d, ""}}));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)[0].entry.path, name);
  EXPECT_EQ((*got)[1].entry.path, d.path);
}

TEST(TarWriter, PaxRecordLengthCountsItsOwnDigits) {
  std::string r;
  pax::append_record(r, "path", std::string(3, 'x'));
  EXPECT_EQ(r, "12 path=xxx\n");
  r.clear();
  pax::append_record(r, "path", std::string(93, 'x'));  // 100 + 3 digits
  EXPECT_EQ(r.substr(0, 4), "103 ");
  EXPECT_EQ(r.size(), 103u);
  r.clear();
  pax::append_record(r, "path", std::string(91, 'x'));  // 98 + 2 digits = 100: 3 digits
  EXPECT_EQ(r.size(), 101u);
  EXPECT_EQ(r.substr(0, 4), "101 ");
  r.clear();
  pax::append_record(r, "path", std::string(90, 'x'));  // 97 + 2 digits
  EXPECT_EQ(r.size(), 99u);
}

TEST(TarWriter, GoNamingDetails) {
  // A truncated name must not end in '/': Go replaces the slash with NUL.
  std::string name = std::string(99, 'a') + "/" + std::string(101, 'b');
  std::string tar = write_tar({{file_entry(name, 0), ""}});
  size_t main = tar.size() - 1024 - 512;
  EXPECT_EQ(tar[156], 'x');
  EXPECT_EQ(tar.substr(main, 100), std::string(99, 'a') + '\0');
  // Non-ASCII names: a PAX path, and the ustar name with those bytes dropped.
  tar = write_tar({{file_entry("caf\xc3\xa9", 0), ""}});
  EXPECT_EQ(field(tar, 0, 0, 18), std::string("PaxHeaders.0/caf\0\0", 18));
  main = tar.size() - 1024 - 512;
  EXPECT_EQ(tar.substr(main, 4), std::string("caf\0", 4));
  // A long directory name: its PAX header sits inside it.
  Entry d;
  d.path = std::string(110, 'd');
  d.type = EntryType::directory;
  tar = write_tar({{d, ""}});
  EXPECT_EQ(field(tar, 0, 0, 100), std::string(100, 'd'));
  d.path = "x/" + std::string(110, 'd');
  tar = write_tar({{d, ""}});
  EXPECT_EQ(field(tar, 0, 0, 20), "x/" + std::string(18, 'd'));
  // Mode type bits, as Go 1.8 wrote them.
  tar = write_tar({{file_entry("m", 0, 04755), ""}}, {.mode_type_bits = true});
  EXPECT_EQ(field(tar, 0, 100, 8), std::string("0104755\0", 8));
}

TEST(TarWriter, IsDeterministic) {
  auto make = [] {
    std::vector<std::pair<Entry, std::string>> v;
    for (int i = 0; i < 50; ++i) {
      Entry e = file_entry(std::string("f").append(std::to_string(i)), i * 37);
      e.xattrs = {{"user.b", "2"}, {"user.a", "1"}};
      v.push_back({e, std::string(i * 37, 'q')});
    }
    return write_tar(v);
  };
  std::string a = make(), b = make();
  EXPECT_EQ(a, b);
  EXPECT_EQ(sha256(a), sha256(b));
}

TEST(TarWriter, MisuseIsAnError) {
  std::string out;
  TarWriter w([&](std::string_view b) -> Result<void> {
    out.append(b);
    return {};
  });
  ASSERT_TRUE(w.add(file_entry("a", 3)));
  EXPECT_FALSE(w.write_data("abcd"));  // more than declared
  ASSERT_TRUE(w.write_data("ab"));
  auto r = w.add(file_entry("b", 0));  // "a" is one byte short
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("\"a\""), std::string::npos) << r.error().message;
  EXPECT_FALSE(w.finish());
  ASSERT_TRUE(w.write_data("c"));
  EXPECT_FALSE(w.add(file_entry("", 0)));
  Entry bad = file_entry(std::string("n\0l", 3), 0);
  EXPECT_FALSE(w.add(bad));
  Entry dev;
  dev.path = "d";
  dev.type = EntryType::char_device;
  dev.devmajor = 1u << 22;
  EXPECT_FALSE(w.add(dev));
  ASSERT_TRUE(w.finish());
  EXPECT_FALSE(w.add(file_entry("late", 0)));
  EXPECT_EQ(out.size() % 512, 0u);
  EXPECT_EQ(w.bytes_written(), out.size());
}

TEST(TarWriter, OutputErrorsPropagate) {
  TarWriter w([](std::string_view) -> Result<void> { return fail(Errc::io, "pipe closed"); });
  auto r = w.add(file_entry("a", 0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "pipe closed");
}

}  // namespace
}  // namespace berth::layers::archive
