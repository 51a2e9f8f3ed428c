// TarReader on archives made by TarWriter and by hand: every entry type, every
// way of feeding the bytes, PAX and GNU extensions.
#include "layers/archive/tar_reader.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "layers/archive/tar_writer.h"
#include "layers/archive/whiteout.h"
#include "tests/layers/archive_test_util.h"

namespace berth::layers::archive {
namespace {

using namespace testing;

std::vector<std::pair<Entry, std::string>> sample_entries() {
  std::vector<std::pair<Entry, std::string>> v;
  v.push_back({file_entry("empty", 0), ""});
  v.push_back({file_entry("small.txt", 5, 0755), "hello"});
  v.push_back({file_entry("exact", 512), std::string(512, 'x')});
  v.push_back({file_entry("over", 513), std::string(513, 'y')});
  Entry d;
  d.path = "dir";
  d.type = EntryType::directory;
  d.mode = 01755;
  v.push_back({d, ""});
  Entry s;
  s.path = "dir/link";
  s.type = EntryType::symlink;
  s.link_target = "../small.txt";
  s.mode = 0777;
  v.push_back({s, ""});
  Entry h;
  h.path = "dir/hard";
  h.type = EntryType::hardlink;
  h.link_target = "small.txt";
  v.push_back({h, ""});
  Entry c;
  c.path = "dev/null";
  c.type = EntryType::char_device;
  c.devmajor = 1;
  c.devminor = 3;
  c.mode = 0666;
  v.push_back({c, ""});
  Entry b = c;
  b.path = "dev/sda";
  b.type = EntryType::block_device;
  b.devmajor = 8;
  b.devminor = 0;
  v.push_back({b, ""});
  Entry f;
  f.path = "fifo";
  f.type = EntryType::fifo;
  f.mode = 04640;
  v.push_back({f, ""});
  Entry x = file_entry("xattrs", 3);
  x.xattrs = {
      {"user.b", "2"}, {"security.capability", std::string("\x01\x00\x00\x02", 4)}, {"user.a", ""}};
  v.push_back({x, "abc"});
  v.push_back({file_entry(std::string(150, 'n'), 1), "1"});
  v.push_back({file_entry(std::string(120, 'p') + "/" + std::string(200, 'q'), 2), "22"});
  Entry ls;
  ls.path = "longlink";
  ls.type = EntryType::symlink;
  ls.link_target = std::string(300, 't');
  v.push_back({ls, ""});
  Entry u = file_entry("ids", 0);
  u.uid = 3000000000u;
  u.gid = 2097152;
  u.uname = std::string(40, 'u');
  u.gname = "g\xc3\xa9";
  v.push_back({u, ""});
  v.push_back({file_entry("caf\xc3\xa9/na\xc3\xafve", 1), "z"});
  Entry old = file_entry("old", 0);
  old.mtime = {-86400 * 365, 0};
  v.push_back({old, ""});
  Entry future = file_entry("future", 0);
  future.mtime = {int64_t{1} << 34, 0};
  v.push_back({future, ""});
  return v;
}

void expect_same(const Entry& want, const Member& got) {
  const Entry& e = got.entry;
  EXPECT_EQ(e.path, want.path);
  EXPECT_EQ(e.type, want.type) << want.path;
  EXPECT_EQ(e.mode, want.mode) << want.path;
  EXPECT_EQ(e.uid, want.uid) << want.path;
  EXPECT_EQ(e.gid, want.gid) << want.path;
  EXPECT_EQ(e.uname, want.uname) << want.path;
  EXPECT_EQ(e.gname, want.gname) << want.path;
  EXPECT_EQ(e.mtime, want.mtime) << want.path;
  EXPECT_EQ(e.link_target, want.link_target) << want.path;
  EXPECT_EQ(e.devmajor, want.devmajor) << want.path;
  EXPECT_EQ(e.devminor, want.devminor) << want.path;
  // The writer orders xattrs by name, as Go orders all PAX records.
  std::vector<Xattr> xattrs = want.xattrs;
  std::sort(xattrs.begin(), xattrs.end(),
            [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  EXPECT_EQ(e.xattrs, xattrs) << want.path;
  EXPECT_TRUE(got.ended);
}

TEST(TarReader, RoundTripsEveryEntryType) {
  auto entries = sample_entries();
  std::string tar = write_tar(entries);
  auto got = parse(tar);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    expect_same(entries[i].first, (*got)[i]);
    EXPECT_EQ((*got)[i].data, entries[i].second) << entries[i].first.path;
  }
}

TEST(TarReader, AnySplitGivesTheSameResult) {
  auto entries = sample_entries();
  entries.resize(12);  // keep the quadratic loop fast
  std::string tar = write_tar(entries);
  auto whole = parse(tar);
  ASSERT_TRUE(whole);
  // One byte at a time, then every two-piece split.
  auto bytewise = parse(tar, 1);
  ASSERT_TRUE(bytewise) << bytewise.error().message;
  ASSERT_EQ(bytewise->size(), whole->size());
  for (size_t i = 0; i < whole->size(); ++i) EXPECT_EQ((*bytewise)[i].data, (*whole)[i].data);
  for (size_t cut = 1; cut < tar.size(); ++cut) {
    RecordingSink sink;
    TarReader reader(sink);
    ASSERT_TRUE(reader.feed(std::string_view(tar).substr(0, cut)));
    ASSERT_TRUE(reader.feed(std::string_view(tar).substr(cut)));
    ASSERT_TRUE(reader.finish());
    ASSERT_EQ(sink.members.size(), whole->size()) << cut;
    for (size_t i = 0; i < whole->size(); ++i) {
      ASSERT_EQ(sink.members[i].entry.path, (*whole)[i].entry.path);
      ASSERT_EQ(sink.members[i].data, (*whole)[i].data) << cut;
    }
    EXPECT_TRUE(reader.at_end());
  }
}

TEST(TarReader, DataIsHandedOutAsViewsIntoTheFedBuffer) {
  std::string content(100000, 'a');
  std::string tar = write_tar({{file_entry("big", content.size()), content}});
  struct Sink : RecordingSink {
    const char* lo = nullptr;
    const char* hi = nullptr;
    bool outside = false;
    Result<void> on_data(std::string_view d) override {
      if (d.data() < lo || d.data() + d.size() > hi) outside = true;
      return RecordingSink::on_data(d);
    }
  } sink;
  sink.lo = tar.data();
  sink.hi = tar.data() + tar.size();
  TarReader reader(sink);
  ASSERT_TRUE(reader.feed(tar));
  ASSERT_TRUE(reader.finish());
  EXPECT_FALSE(sink.outside);
  ASSERT_EQ(sink.members.size(), 1u);
  EXPECT_EQ(sink.members[0].data, content);
}

TEST(TarReader, SubsecondAndAccessTimes) {
  Entry e = file_entry("t", 0);
  e.mtime = {1700000000, 123456789};
  e.atime = Timestamp{1700000001, 500000000};
  e.ctime = Timestamp{-2, 250000000};
  std::string tar = write_tar({{e, ""}}, {.subsecond_mtime = true, .atime_ctime = true});
  auto got = parse(tar);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ((*got)[0].entry.mtime, e.mtime);
  EXPECT_EQ((*got)[0].entry.atime, e.atime);
  EXPECT_EQ((*got)[0].entry.ctime, e.ctime);
  // Without the option the writer truncates, as Docker does.
  auto plain = parse(write_tar({{e, ""}}));
  ASSERT_TRUE(plain);
  EXPECT_EQ((*plain)[0].entry.mtime, (Timestamp{1700000000, 0}));
  EXPECT_FALSE((*plain)[0].entry.atime);
}

TEST(TarReader, NormalizesPathsAndKeepsTheRawOne) {
  std::string tar = RawHeader("./a//b/", '5').str() + RawHeader("/abs", '0').str() +
                    RawHeader("./", '5').str() + RawHeader("x/./../y", '0').str() + kEndBlocks;
  auto got = parse(tar);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 4u);
  EXPECT_EQ((*got)[0].entry.path, "a/b");
  EXPECT_EQ((*got)[0].entry.raw_path, "./a//b/");
  EXPECT_EQ((*got)[1].entry.path, "abs");
  EXPECT_EQ((*got)[2].entry.path, ".");
  EXPECT_EQ((*got)[3].entry.path, "x/../y");  // ".." is the extractor's business
}

TEST(TarReader, UstarPrefixAndV7AndOldDirectories) {
  RawHeader prefixed("name.txt", '0', 1);
  prefixed.put(345, "some/long/prefix");
  RawHeader v7("v7file", '\0', 0);
  v7.fill(257, 8, '\0');
  v7.put(265, "ignored");  // no uname in V7
  RawHeader olddir("olddir/", '\0', 0);
  std::string tar = prefixed.str() + padded("!") + v7.str() + olddir.str();  // no end blocks
  auto got = parse(tar);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].entry.path, "some/long/prefix/name.txt");
  EXPECT_EQ((*got)[0].data, "!");
  EXPECT_EQ((*got)[1].entry.path, "v7file");
  EXPECT_EQ((*got)[1].entry.uname, "");
  EXPECT_EQ((*got)[2].entry.type, EntryType::directory);
}

TEST(TarReader, GnuLongNamesAndBase256Fields) {
  std::string name(70000 / 2, 'L');
  std::string link(5000, 'K');
  RawHeader ln("././@LongLink", 'L', name.size() + 1);
  ln.gnu_magic();
  RawHeader lk("././@LongLink", 'K', link.size());
  lk.gnu_magic();
  RawHeader h("truncated-name", '2', 0);
  h.gnu_magic();
  RawHeader big("big-ids", '0', 0);
  big.gnu_magic().base256(108, 8, 5000000000ull >> 8).base256(116, 8, 4000000000u);
  big.base256(124, 12, 3);
  big.base256(136, 12, 1ull << 40);
  std::string tar = ln.str() + padded(name + '\0') + lk.str() + padded(link) + h.str() + big.str() +
                    padded("abc") + kEndBlocks;
  auto got = parse(tar, 0, {.max_long_name = 64 << 10});
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].entry.path, name);
  EXPECT_EQ((*got)[0].entry.link_target, link);
  EXPECT_EQ((*got)[1].entry.uid, 5000000000ull >> 8);
  EXPECT_EQ((*got)[1].entry.gid, 4000000000u);
  EXPECT_EQ((*got)[1].entry.size, 3u);
  EXPECT_EQ((*got)[1].data, "abc");
  EXPECT_EQ((*got)[1].entry.mtime.sec, int64_t{1} << 40);
}

TEST(TarReader, Base256SizeBeyondOctalRange) {
  // An 8 GiB + 1 member: the header is accepted; the archive then ends early.
  RawHeader h("huge", '0', 0);
  h.gnu_magic().base256(124, 12, (8ull << 30) + 1);
  std::string err = error_of(h.str() + std::string(4096, 'z'));
  EXPECT_NE(err.find("entry \"huge\""), std::string::npos) << err;
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_NE(err.find(std::to_string((8ull << 30) + 1 - 4096)), std::string::npos) << err;
}

TEST(TarReader, PaxRecordsOverrideAndGlobalHeadersPersist) {
  std::string g = pax_record("uname", "global") + pax_record("mtime", "1.5") +
                  pax_record("SCHILY.xattr.user.g", "G");
  std::string x1 = pax_record("path", "pax/path") + pax_record("uid", "4294967295") +
                   pax_record("size", "4") + pax_record("LIBARCHIVE.xattr.user.b%3Dx", "AAEC") +
                   pax_record("SCHILY.xattr.user.g", "local") + pax_record("comment", "ignored") +
                   pax_record("atime", "-1.25");
  std::string x2 = pax_record("mtime", "") + pax_record("uname", "");  // unset: header values
  std::string tar = pax_header(g, 'g') + pax_header(x1) + RawHeader("hdr", '0', 999).str() +
                    padded("data") + pax_header(x2) + RawHeader("second", '0', 0).str() +
                    RawHeader("third", '0', 0).str() + kEndBlocks;
  auto got = parse(tar);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 3u);
  const Entry& a = (*got)[0].entry;
  EXPECT_EQ(a.path, "pax/path");
  EXPECT_EQ(a.uid, 4294967295u);
  EXPECT_EQ(a.uname, "global");
  EXPECT_EQ(a.mtime, (Timestamp{1, 500000000}));
  EXPECT_EQ(a.atime, (Timestamp{-2, 750000000}));
  EXPECT_EQ((*got)[0].data, "data");
  std::vector<Xattr> want{{"user.g", "local"}, {"user.b=x", std::string("\0\1\2", 3)}};
  EXPECT_EQ(a.xattrs, want);
  const Entry& b = (*got)[1].entry;
  EXPECT_EQ(b.uname, "");  // header's (empty in RawHeader)
  EXPECT_EQ(b.mtime.sec, 1700000000);
  EXPECT_EQ(b.xattrs.size(), 1u);
  const Entry& c = (*got)[2].entry;
  EXPECT_EQ(c.uname, "global");
  EXPECT_EQ(c.mtime, (Timestamp{1, 500000000}));
}

TEST(TarReader, PaxSparseFormats) {
  // 0.1: the map in one record. File: 3 bytes at 2, 2 bytes at 10, size 16.
  std::string x01 = pax_record("GNU.sparse.major", "0") + pax_record("GNU.sparse.minor", "1") +
                    pax_record("GNU.sparse.name", "sparse01") +
                    pax_record("GNU.sparse.size", "16") + pax_record("GNU.sparse.map", "2,3,10,2");
  // 0.0: repeated offset/numbytes records.
  std::string x00 = pax_record("GNU.sparse.size", "16") + pax_record("GNU.sparse.numblocks", "2") +
                    pax_record("GNU.sparse.offset", "2") + pax_record("GNU.sparse.numbytes", "3") +
                    pax_record("GNU.sparse.offset", "10") + pax_record("GNU.sparse.numbytes", "2") +
                    pax_record("path", "sparse00");
  // 1.0: the map at the start of the content, padded to a block.
  std::string x10 = pax_record("GNU.sparse.major", "1") + pax_record("GNU.sparse.minor", "0") +
                    pax_record("GNU.sparse.name", "sparse10") +
                    pax_record("GNU.sparse.realsize", "16");
  std::string map10 = padded("2\n2\n3\n10\n2\n");
  std::string tar = pax_header(x01) + RawHeader("GNUSparseFile.0/sparse01", '0', 5).str() +
                    padded("abcde") + pax_header(x00) + RawHeader("x", '0', 5).str() +
                    padded("abcde") + pax_header(x10) +
                    RawHeader("GNUSparseFile.0/sparse10", '0', 512 + 5).str() + map10 +
                    padded("abcde") + kEndBlocks;
  std::string want("\0\0abc\0\0\0\0\0de\0\0\0\0", 16);
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}, size_t{512}}) {
    auto got = parse(tar, step);
    ASSERT_TRUE(got) << got.error().message;
    ASSERT_EQ(got->size(), 3u);
    EXPECT_EQ((*got)[0].entry.path, "sparse01");
    EXPECT_EQ((*got)[1].entry.path, "sparse00");
    EXPECT_EQ((*got)[2].entry.path, "sparse10");
    for (const Member& m : *got) {
      EXPECT_TRUE(m.entry.sparse);
      EXPECT_EQ(m.entry.size, 16u);
      EXPECT_EQ(m.data, want) << m.entry.path;
    }
  }
  // A sink may take holes as holes.
  RecordingSink sink;
  sink.record_holes = true;
  TarReader reader(sink);
  ASSERT_TRUE(reader.feed(tar));
  ASSERT_TRUE(reader.finish());
  EXPECT_EQ(sink.members[0].hole_bytes, 11u);
}

TEST(TarReader, OldGnuSparseWithExtensionBlocks) {
  // 6 segments of 1 byte at offsets 0, 10, ..., 50; real size 64: 4 in the
  // header, 2 in one extension block.
  RawHeader h("oldsparse", 'S', 6);
  h.gnu_magic();
  for (int i = 0; i < 4; ++i) {
    h.octal(386 + i * 24, 12, 10 * i);
    h.octal(386 + i * 24 + 12, 12, 1);
  }
  h.b[482] = 1;
  h.octal(483, 12, 64);
  std::string ext(512, '\0');
  RawHeader tmp("", '0');
  for (int i = 0; i < 2; ++i) {
    tmp.octal(0, 12, 10 * (4 + i));
    std::memcpy(ext.data() + i * 24, tmp.b, 12);
    tmp.octal(0, 12, 1);
    std::memcpy(ext.data() + i * 24 + 12, tmp.b, 12);
  }
  std::string tar = h.str() + ext + padded("ABCDEF") + kEndBlocks;
  for (size_t step : {size_t{0}, size_t{1}, size_t{100}}) {
    auto got = parse(tar, step);
    ASSERT_TRUE(got) << got.error().message;
    ASSERT_EQ(got->size(), 1u);
    std::string want(64, '\0');
    for (int i = 0; i < 6; ++i) want[10 * i] = static_cast<char>('A' + i);
    EXPECT_EQ((*got)[0].data, want);
    EXPECT_EQ((*got)[0].entry.type, EntryType::regular);
  }
}

TEST(TarReader, EndOfArchiveIsOptionalAndTrailingBytesIgnored) {
  std::string tar = write_tar({{file_entry("a", 1), "a"}});
  std::string body = tar.substr(0, tar.size() - 1024);
  EXPECT_TRUE(parse(body));                           // no end blocks
  EXPECT_TRUE(parse(body + std::string(512, '\0')));  // one end block
  EXPECT_TRUE(parse(tar + std::string(9216, '\0')));  // record padding
  EXPECT_TRUE(parse(tar + "garbage after the end"));  // ignored, as Go does
  EXPECT_TRUE(parse(""));                             // an empty archive
  auto got = parse(tar + "x");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 1u);
}

TEST(TarReader, VolumeLabelsAndDumpdirsAreNotDataMembers) {
  RawHeader label("my volume", 'V', 0);
  label.gnu_magic();
  RawHeader dump("dumped", 'D', 6);
  dump.gnu_magic();
  std::string tar = label.str() + dump.str() + padded(std::string("Ya\0Nb\0", 6)) + kEndBlocks;
  auto got = parse(tar);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].entry.type, EntryType::directory);
  EXPECT_EQ((*got)[0].entry.size, 0u);
  EXPECT_EQ((*got)[0].data, "");
}

TEST(Whiteout, Names) {
  EXPECT_EQ(whiteout_kind("a/b/.wh.c"), WhiteoutKind::file);
  EXPECT_EQ(whiteout_kind(".wh.c"), WhiteoutKind::file);
  EXPECT_EQ(whiteout_kind("a/.wh..wh..opq"), WhiteoutKind::opaque);
  EXPECT_EQ(whiteout_kind("a/.wh."), WhiteoutKind::invalid);
  EXPECT_EQ(whiteout_kind("a/.whc"), WhiteoutKind::none);
  EXPECT_EQ(whiteout_kind(".wh.x/c"), WhiteoutKind::none);
  EXPECT_TRUE(is_whiteout("x/.wh.y"));
  EXPECT_FALSE(is_whiteout("x/.wh..wh..opq"));
  EXPECT_TRUE(is_opaque(".wh..wh..opq"));
  EXPECT_EQ(whiteout_target("a/b/.wh.c"), "a/b/c");
  EXPECT_EQ(whiteout_target(".wh..hidden"), ".hidden");
  EXPECT_EQ(whiteout_target("a/b/c"), std::nullopt);
  EXPECT_EQ(whiteout_target_name("a/.wh.zz"), "zz");
  EXPECT_EQ(base_name("a/b"), "b");
  EXPECT_EQ(dir_name("a/b"), "a");
  EXPECT_EQ(dir_name("b"), "");
}

}  // namespace
}  // namespace berth::layers::archive
