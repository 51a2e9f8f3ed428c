// Interoperability with GNU tar and bsdtar: archives they make, in each of
// their formats, read back exactly as the tree they came from; archives
// TarWriter makes, listed and extracted by them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>

#include "layers/archive/tar_reader.h"
#include "layers/archive/tar_writer.h"
#include "tests/layers/archive_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::layers::archive {
namespace {

using namespace testing;
using berth::testing::run_command;
using berth::testing::TempDir;

const std::string kDeep = std::string(90, 'd') + "/" + std::string(90, 'e') + "/" +
                          std::string(90, 'f');  // with "long/" and a file: > 255
const std::string kLongBase(150, 'n');
const std::string kLongTarget(200, 't');

bool have(const char* tool) {
  return run_command(std::string("command -v ") + tool).status == 0;
}

void sh(const std::string& cmd) {
  auto r = run_command(cmd);
  ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output;
}

// The tree every tool archives. Returns whether device nodes could be made.
bool make_tree(const std::string& root) {
  std::string r = root;
  ::mkdir(r.c_str(), 0755);
  write_file(r + "/empty", "");
  write_file(r + "/small.txt", "hello\n");
  std::string multi;
  for (int i = 0; i < 70000; ++i) multi.push_back(static_cast<char>('a' + i % 26));
  write_file(r + "/multi", multi);
  ::mkdir((r + "/dir").c_str(), 0750);
  ::mkdir((r + "/dir/sub").c_str(), 0755);
  EXPECT_EQ(::symlink("../small.txt", (r + "/dir/link").c_str()), 0);
  EXPECT_EQ(::link((r + "/multi").c_str(), (r + "/dir/hard").c_str()), 0);
  EXPECT_EQ(run_command("mkdir -p '" + r + "/long/" + kDeep + "'").status, 0);
  write_file(r + "/long/" + kDeep + "/file", "deep");
  write_file(r + "/" + kLongBase, "long name");
  EXPECT_EQ(::symlink(kLongTarget.c_str(), (r + "/longlink").c_str()), 0);
  EXPECT_EQ(::mkfifo((r + "/fifo").c_str(), 0640), 0);
  write_file(r + "/setuid", "#!/bin/true\n");
  ::chmod((r + "/setuid").c_str(), 04755);
  write_file(r + "/caf\xc3\xa9", "unicode");
  write_file(r + "/subsec", "t");
  struct timespec ts[2] = {{1700000000, 123456789}, {1700000000, 123456789}};
  ::utimensat(AT_FDCWD, (r + "/subsec").c_str(), ts, 0);
  write_file(r + "/xattrs", "x");
  ::setxattr((r + "/xattrs").c_str(), "user.a", "1", 1, 0);
  ::setxattr((r + "/xattrs").c_str(), "user.bin", "\0\xff", 2, 0);
  // Sparse: data at 100000 and 900000 in 1 MiB, a hole at the end.
  int fd = ::open((r + "/sparse").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::pwrite(fd, "hello", 5, 100000), 5);
  EXPECT_EQ(::pwrite(fd, "world", 5, 900000), 5);
  EXPECT_EQ(::ftruncate(fd, 1 << 20), 0);
  ::close(fd);
  ::mkdir((r + "/dev").c_str(), 0755);
  bool devices = ::mknod((r + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0 &&
                 ::mknod((r + "/dev/sda").c_str(), S_IFBLK | 0660, makedev(8, 0)) == 0;
  return devices;
}

std::map<std::string, Member> by_path(const std::vector<Member>& members) {
  std::map<std::string, Member> m;
  for (const Member& x : members) m[x.entry.path] = x;
  return m;
}

// Checks members against the tree on disk.
void check_against_tree(const std::string& root, const std::vector<Member>& members, bool devices,
                        bool subsecond, bool xattrs, const std::string& label) {
  SCOPED_TRACE(label);
  auto m = by_path(members);
  const std::string deep = "long/" + kDeep + "/file";
  for (const char* p :
       {"empty", "small.txt", "multi", "setuid", "caf\xc3\xa9", "subsec", "xattrs", "sparse"}) {
    ASSERT_TRUE(m.count(p)) << p;
  }
  ASSERT_TRUE(m.count(deep));
  ASSERT_TRUE(m.count(kLongBase));
  for (auto& [path, mem] : m) {
    struct stat st;
    ASSERT_EQ(::lstat((root + "/" + path).c_str(), &st), 0) << path;
    const Entry& e = mem.entry;
    EXPECT_EQ(e.mtime.sec, st.st_mtim.tv_sec) << path;
    if (subsecond) {
      EXPECT_EQ(e.mtime.nsec, st.st_mtim.tv_nsec) << path;
    }
    EXPECT_EQ(e.mode, st.st_mode & 07777) << path;
    EXPECT_EQ(e.uid, st.st_uid) << path;
    switch (e.type) {
      case EntryType::regular:
        EXPECT_TRUE(S_ISREG(st.st_mode)) << path;
        EXPECT_EQ(mem.data, read_file(root + "/" + path)) << path;
        break;
      case EntryType::hardlink:
        EXPECT_TRUE(path == "multi" || path == "dir/hard") << path;
        EXPECT_EQ(e.link_target, path == "multi" ? "dir/hard" : "multi");
        break;
      case EntryType::directory: EXPECT_TRUE(S_ISDIR(st.st_mode)) << path; break;
      case EntryType::symlink: {
        char buf[4096];
        ssize_t n = ::readlink((root + "/" + path).c_str(), buf, sizeof buf);
        EXPECT_EQ(e.link_target, std::string(buf, n > 0 ? n : 0)) << path;
        break;
      }
      case EntryType::fifo: EXPECT_TRUE(S_ISFIFO(st.st_mode)) << path; break;
      case EntryType::char_device:
      case EntryType::block_device:
        EXPECT_EQ(e.devmajor, major(st.st_rdev)) << path;
        EXPECT_EQ(e.devminor, minor(st.st_rdev)) << path;
        break;
    }
  }
  EXPECT_EQ(m["sparse"].entry.size, 1u << 20);
  EXPECT_EQ(m["dir/link"].entry.type, EntryType::symlink);
  EXPECT_EQ(m["longlink"].entry.link_target, kLongTarget);
  EXPECT_EQ(m["fifo"].entry.type, EntryType::fifo);
  if (devices) {
    EXPECT_EQ(m["dev/null"].entry.type, EntryType::char_device);
    EXPECT_EQ(m["dev/sda"].entry.type, EntryType::block_device);
  }
  if (xattrs) {
    std::vector<Xattr> want{{"user.a", "1"}, {"user.bin", std::string("\0\xff", 2)}};
    std::vector<Xattr> got = m["xattrs"].entry.xattrs;
    std::sort(got.begin(), got.end(),
              [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
    EXPECT_EQ(got, want);
  }
}

class TarTools : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have("tar")) GTEST_SKIP() << "GNU tar not installed";
    devices_ = make_tree(dir_ / "src");
    char v[2];
    xattrs_ok_ = ::getxattr((dir_ / "src/xattrs").c_str(), "user.a", v, sizeof v) == 1;
  }
  std::vector<Member> archive_and_parse(const std::string& cmd, const std::string& label) {
    std::string tar = dir_ / (label + ".tar");
    auto r = run_command(cmd + " -f '" + tar + "' -C '" + dir_.path() + "/src' .");
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
    std::string bytes = read_file(tar);
    auto got = parse(bytes, 4093);  // an odd split exercises block reassembly
    EXPECT_TRUE(got) << label << ": " << got.error().message;
    return got ? *got : std::vector<Member>{};
  }
  TempDir dir_{"berth-tar-tools"};
  bool devices_ = false;
  bool xattrs_ok_ = false;
};

TEST_F(TarTools, GnuTarFormats) {
  struct Case {
    const char* label;
    const char* flags;
    bool subsecond;
    bool xattrs;
  } cases[] = {
      {"gnu", "--format=gnu --sparse", false, false},
      {"oldgnu", "--format=oldgnu --sparse", false, false},
      {"pax00", "--format=pax --sparse --sparse-version=0.0 --xattrs", true, true},
      {"pax01", "--format=pax --sparse --sparse-version=0.1 --xattrs", true, true},
      {"pax10", "--format=pax --sparse --sparse-version=1.0 --xattrs", true, true},
      {"pax-plain", "--format=pax", true, false},
  };
  for (const Case& c : cases) {
    auto members = archive_and_parse(std::string("tar -c ") + c.flags, c.label);
    ASSERT_FALSE(members.empty()) << c.label;
    check_against_tree(dir_ / "src", members, devices_, c.subsecond, c.xattrs && xattrs_ok_,
                       c.label);
    auto m = by_path(members);
    bool sparse = std::string(c.flags).find("--sparse") != std::string::npos;
    EXPECT_EQ(m["sparse"].entry.sparse, sparse) << c.label;
  }
}

TEST_F(TarTools, BsdtarFormats) {
  if (!have("bsdtar")) GTEST_SKIP() << "bsdtar not installed";
  auto pax = archive_and_parse("bsdtar -c --format pax", "bsd-pax");
  check_against_tree(dir_ / "src", pax, devices_, true, xattrs_ok_, "bsd-pax");
  auto gnu = archive_and_parse("bsdtar -c --format gnutar", "bsd-gnutar");
  check_against_tree(dir_ / "src", gnu, devices_, false, false, "bsd-gnutar");
}

TEST_F(TarTools, LargeIdsFromGnuTar) {
  for (const char* format : {"gnu", "pax"}) {
    std::string tar = dir_ / (std::string("ids-") + format + ".tar");
    sh(std::string("tar -c --format=") + format +
       " --owner=big:3000000000 --group=grp:4000000000 -f '" + tar + "' -C '" + dir_.path() +
       "/src' small.txt");
    auto got = parse(read_file(tar));
    ASSERT_TRUE(got) << got.error().message;
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].entry.uid, 3000000000u) << format;
    EXPECT_EQ((*got)[0].entry.gid, 4000000000u) << format;
    EXPECT_EQ((*got)[0].entry.uname, "big") << format;
  }
}

TEST_F(TarTools, ToolsReadWhatTheWriterWrites) {
  std::vector<std::pair<Entry, std::string>> entries;
  Entry d;
  d.path = "dir";
  d.type = EntryType::directory;
  d.mode = 0755;
  entries.push_back({d, ""});
  entries.push_back({file_entry("dir/" + std::string(180, 'w'), 5), "12345"});
  entries.push_back({file_entry("dir/caf\xc3\xa9", 3), "abc"});
  Entry big = file_entry("dir/ids", 2);
  big.uid = 3000000000u;
  big.gid = 5;
  big.mtime = {1700000000, 500000000};
  entries.push_back({big, "ok"});
  Entry l;
  l.path = "dir/link";
  l.type = EntryType::symlink;
  l.link_target = std::string(150, 'L');
  entries.push_back({l, ""});
  Entry h;
  h.path = "dir/hard";
  h.type = EntryType::hardlink;
  h.link_target = "dir/ids";
  entries.push_back({h, ""});
  Entry x = file_entry("dir/xattrs", 1);
  x.xattrs = {{"user.k", "v"}};
  entries.push_back({x, "x"});
  std::string tar = dir_ / "ours.tar";
  write_file(tar, write_tar(entries, {.subsecond_mtime = true}));

  auto list = run_command("TZ=UTC tar -tvf '" + tar + "' --numeric-owner --full-time");
  ASSERT_EQ(list.status, 0) << list.output;
  EXPECT_NE(list.output.find(std::string(180, 'w')), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("3000000000/5"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("2023-11-14 22:13:20.5"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("dir/link -> " + std::string(150, 'L')), std::string::npos);
  EXPECT_NE(list.output.find("dir/hard link to dir/ids"), std::string::npos) << list.output;

  std::string out = dir_ / "out";
  sh("mkdir '" + out + "' && tar -xf '" + tar + "' -C '" + out + "' --xattrs");
  EXPECT_EQ(read_file(out + "/dir/" + std::string(180, 'w')), "12345");
  EXPECT_EQ(read_file(out + "/dir/caf\xc3\xa9"), "abc");
  struct stat a, b;
  ASSERT_EQ(::stat((out + "/dir/ids").c_str(), &a), 0);
  ASSERT_EQ(::stat((out + "/dir/hard").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_mtim.tv_nsec, 500000000);
  if (xattrs_ok_) {
    char v[8];
    EXPECT_EQ(::getxattr((out + "/dir/xattrs").c_str(), "user.k", v, sizeof v), 1);
  }
  if (have("bsdtar")) {
    auto bl = run_command("bsdtar -tf '" + tar + "'");
    ASSERT_EQ(bl.status, 0) << bl.output;
    EXPECT_NE(bl.output.find("dir/caf\xc3\xa9"), std::string::npos) << bl.output;
  }
}

}  // namespace
}  // namespace berth::layers::archive
