// The layer unpack engine against GNU tar: a generated tree with every kind
// of member and attribute (sizes across pipeline buffers, dirs with odd
// modes, symlinks, hardlinks, fifos, devices, setuid/setgid/sticky, foreign
// owners, sub-second and pre-1970 mtimes, xattrs including
// security.capability, long names, sparse files) is archived by GNU tar and
// by bsdtar, stored plain, gzip and zstd, and unpacked by berth (io_uring and
// plain syscalls, large and tiny buffers) and by `tar -xp --same-owner`; the
// trees must match entry by entry, and the digests must be the stream's.
// Also: OCI whiteouts, parallel unpack_all. Needs root (owners, devices,
// trusted xattrs).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "layers/extract/unpack.h"
#include "tests/layers/layer_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::layers::extract {
namespace {

using namespace berth::layers::testing;
using berth::testing::run_command;
using berth::testing::TempDir;

const std::string kLongTarget(200, 't');
const std::string kLongBase(200, 'n');
const std::string kDeep = std::string(100, 'a') + "/" + std::string(100, 'b') + "/" +
                          std::string(100, 'c');  // with "long/" and a name: > 255 bytes

void must(bool ok, const std::string& what) {
  if (!ok) ADD_FAILURE() << what << ": " << std::strerror(errno);
}

void write(const std::string& path, std::string_view data, mode_t mode = 0644) {
  must(spit(path, data), "write " + path);
  must(::chmod(path.c_str(), mode) == 0, "chmod " + path);
}

// security.capability v2: cap_net_bind_service, effective.
std::string cap_blob() {
  uint32_t v[5] = {0x02000000u | 1u, 1u << 10, 0, 0, 0};
  return std::string(reinterpret_cast<const char*>(v), sizeof v);
}

struct TreeInfo {
  bool devices = false;
  bool capability = false;
};

// Builds the source tree. Owners, then modes, xattrs and times, in the order
// that keeps each (chown clears setuid and capabilities).
TreeInfo make_source_tree(const std::string& r) {
  TreeInfo info;
  auto mk = [&](const std::string& rel) {
    must(::mkdir((r + "/" + rel).c_str(), 0755) == 0, "mkdir " + rel);
    return r + "/" + rel;
  };
  auto own = [&](const std::string& rel, uid_t u, gid_t g) {
    must(::lchown((r + "/" + rel).c_str(), u, g) == 0, "chown " + rel);
  };
  // Sizes around block and buffer boundaries.
  write(r + "/empty", "");
  write(r + "/one", "1");
  write(r + "/b511", pseudo_random(511, 1));
  write(r + "/b512", pseudo_random(512, 2));
  write(r + "/b513", pseudo_random(513, 3));
  write(r + "/f4k", pseudo_random(4096, 4));
  write(r + "/big1", pseudo_random((1 << 20) + 7, 5));
  write(r + "/big3", pseudo_random((3 << 20) + 100, 6));
  // More files than an io_uring batch holds.
  mk("many");
  for (int i = 0; i < 300; ++i)
    write(r + str_cat("/many/f", i), pseudo_random(static_cast<size_t>(i * 7 % 2000), 100 + i));
  // Directories with odd modes and owners, with content.
  mk("dir");
  mk("dir/sub");
  write(r + "/dir/sub/deep", "deep");
  must(::symlink("../one", (r + "/dir/link_rel").c_str()) == 0, "symlink");
  must(::symlink("sub", (r + "/dir/link_dir").c_str()) == 0, "symlink");
  own("dir", 1234, 5678);
  ::chmod((r + "/dir").c_str(), 0750);
  mk("ro");
  write(r + "/ro/inside", "read only", 0444);
  ::chmod((r + "/ro").c_str(), 0555);
  mk("locked");
  write(r + "/locked/secret", "s", 0600);
  mk("sgid_dir");
  write(r + "/sgid_dir/child", "c");
  mk("sgid_dir/subdir");
  own("sgid_dir/child", 1000, 1000);
  mk("sticky");
  // Symlinks of every flavour.
  mk("links");
  must(::symlink("/etc/passwd", (r + "/links/abs").c_str()) == 0, "symlink");
  must(::symlink("does/not/exist", (r + "/links/dangling").c_str()) == 0, "symlink");
  must(::symlink(kLongTarget.c_str(), (r + "/links/long").c_str()) == 0, "symlink");
  must(::symlink("../../../..", (r + "/links/up").c_str()) == 0, "symlink");
  own("links/abs", 1234, 5678);
  // Hardlinks: a group of three across directories, one with xattrs.
  mk("hard");
  mk("hard2");
  write(r + "/hard/a", pseudo_random(70000, 9));
  must(::link((r + "/hard/a").c_str(), (r + "/hard/b").c_str()) == 0, "link");
  must(::link((r + "/hard/a").c_str(), (r + "/hard2/c").c_str()) == 0, "link");
  write(r + "/hard/x", "xattr file");
  ::setxattr((r + "/hard/x").c_str(), "user.h", "hv", 2, 0);
  must(::link((r + "/hard/x").c_str(), (r + "/hard2/x2").c_str()) == 0, "link");
  // Special files.
  must(::mkfifo((r + "/fifo").c_str(), 0640) == 0, "mkfifo");
  mk("dev");
  info.devices = ::mknod((r + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0 &&
                 ::mknod((r + "/dev/sda").c_str(), S_IFBLK | 0660, makedev(8, 0)) == 0 &&
                 ::mknod((r + "/dev/big").c_str(), S_IFCHR | 0600, makedev(300, 70000)) == 0;
  if (info.devices) own("dev/sda", 0, 6);
  // Modes.
  write(r + "/setuid", "#!/bin/true\n", 0755);
  write(r + "/setgid", "#!/bin/true\n", 0755);
  write(r + "/sticky_file", "t");
  write(r + "/zero", "no access", 0000);
  write(r + "/all", "everyone", 0777);
  write(r + "/setuid_owned", "#!/bin/true\n", 0755);
  // Owners.
  write(r + "/own1", "1");
  write(r + "/own2", "2");
  write(r + "/own3", "3");
  own("own1", 1234, 5678);
  own("own2", 65534, 65534);
  own("own3", 3000000, 3000001);  // beyond ustar's octal fields
  own("setuid_owned", 1000, 1000);
  own("fifo", 1234, 1234);
  // Modes with special bits after the owners (chown clears them).
  ::chmod((r + "/setuid").c_str(), 04755);
  ::chmod((r + "/setgid").c_str(), 02755);
  ::chmod((r + "/sticky_file").c_str(), 01644);
  ::chmod((r + "/setuid_owned").c_str(), 06755);
  ::chmod((r + "/sgid_dir").c_str(), 02775);
  ::chmod((r + "/sticky").c_str(), 01777);
  // Xattrs, after chown too.
  write(r + "/xa", "xattrs");
  ::setxattr((r + "/xa").c_str(), "user.a", "1", 1, 0);
  ::setxattr((r + "/xa").c_str(), "user.bin", "\0\xff\x01", 3, 0);
  ::setxattr((r + "/dir").c_str(), "user.d", "dirval", 6, 0);
  write(r + "/cap", "#!/bin/true\n", 0755);
  std::string cap = cap_blob();
  info.capability =
      ::setxattr((r + "/cap").c_str(), "security.capability", cap.data(), cap.size(), 0) == 0;
  // Long names.
  must(run_command("mkdir -p " + shell_quote(r + "/long/" + kDeep)).status == 0, "mkdir -p");
  write(r + "/long/" + kDeep + "/file", "deep file");
  write(r + "/long/" + kLongBase, "long base name");
  must(::link((r + "/long/" + kLongBase).c_str(), (r + "/long/" + kDeep + "/hl").c_str()) == 0,
       "link long");
  write(r + "/caf\xc3\xa9", "unicode");
  // Sparse: data at two places in 4 MiB, ending in a hole.
  int fd = ::open((r + "/sparse").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  must(fd >= 0, "open sparse");
  must(::pwrite(fd, "hello", 5, 100000) == 5, "pwrite");
  std::string chunk = pseudo_random(70000, 11);
  must(::pwrite(fd, chunk.data(), chunk.size(), 2000000) == static_cast<ssize_t>(chunk.size()),
       "pwrite");
  must(::ftruncate(fd, 4 << 20) == 0, "ftruncate");
  ::close(fd);
  // Finally every mtime, sub-second, deepest first (setting one touches
  // nothing else); a few before 1970 and far ahead.
  Tree t = snapshot(r);
  std::vector<std::string> paths;
  for (const auto& [p, n] : t.nodes) paths.push_back(p);
  std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  long i = 0;
  for (const auto& p : paths) {
    if (p == ".") continue;
    timespec ts[2];
    ts[0] = ts[1] = timespec{1700000000 + i, (i * 123456789L + 1) % 1000000000L};
    if (p == "own2") ts[0] = ts[1] = timespec{-86400L * 365, 250000000};
    if (p == "own3") ts[0] = ts[1] = timespec{4102444800L, 999999999};
    ++i;
    must(::utimensat(AT_FDCWD, (r + "/" + p).c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0,
         "utimensat " + p);
  }
  timespec rts[2] = {{1690000000, 5}, {1690000000, 5}};
  ::utimensat(AT_FDCWD, r.c_str(), rts, 0);
  ::chmod(r.c_str(), 0751);
  return info;
}

enum class Producer { gnu, bsd };
enum class Comp { none, gzip, zstd };

const char* name_of(Producer p) {
  return p == Producer::gnu ? "gnutar" : "bsdtar";
}
const char* name_of(Comp c) {
  return c == Comp::none ? "none" : c == Comp::gzip ? "gzip" : "zstd";
}

// The archives and reference trees, made once for the suite.
struct Fixture {
  TempDir dir{"berth-extract"};
  TreeInfo info;
  bool ok = false;
  std::string error;
  std::string archive(Producer p, Comp c) const {
    return dir / str_cat(name_of(p), ".tar",
                         c == Comp::none   ? ""
                         : c == Comp::gzip ? ".gz"
                                           : ".zst");
  }
  std::string plain(Producer p) const { return archive(p, Comp::none); }
  Tree reference[2];
};

Fixture* fixture = nullptr;

class ExtractTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || !have_tool("tar")) return;
    fixture = new Fixture();
    Fixture& f = *fixture;
    std::string src = f.dir / "src";
    ::mkdir(src.c_str(), 0755);
    f.info = make_source_tree(src);
    auto sh = [&](const std::string& cmd) {
      auto r = run_command(cmd);
      if (r.status != 0) f.error += cmd + " -> " + r.output + "\n";
      return r.status == 0;
    };
    bool ok = sh("tar --format=posix --xattrs --xattrs-include='*' --sparse --numeric-owner -C " +
                 shell_quote(src) + " -cf " + shell_quote(f.plain(Producer::gnu)) + " .");
    bool bsd = have_tool("bsdtar");
    if (bsd)
      ok &= sh("bsdtar --format=pax --xattrs --numeric-owner -C " + shell_quote(src) + " -cf " +
               shell_quote(f.plain(Producer::bsd)) + " .");
    for (Producer p : {Producer::gnu, Producer::bsd}) {
      if (p == Producer::bsd && !bsd) continue;
      ok &= sh("gzip -n -c " + shell_quote(f.plain(p)) + " > " +
               shell_quote(f.archive(p, Comp::gzip)));
      ok &= sh("zstd -q -c " + shell_quote(f.plain(p)) + " > " +
               shell_quote(f.archive(p, Comp::zstd)));
      std::string ref = f.dir / str_cat("ref-", name_of(p));
      ::mkdir(ref.c_str(), 0700);
      // Each archive extracted by the tool that made it: GNU tar leaves the
      // mtimes of non-empty directories of bsdtar archives at "now".
      if (p == Producer::gnu)
        ok &= sh("tar --xattrs --xattrs-include='*' --same-owner --numeric-owner -xpf " +
                 shell_quote(f.plain(p)) + " -C " + shell_quote(ref));
      else
        ok &= sh("bsdtar --xattrs --same-owner --numeric-owner -xpf " + shell_quote(f.plain(p)) +
                 " -C " + shell_quote(ref));
      f.reference[static_cast<int>(p)] = snapshot(ref);
    }
    f.ok = ok;
  }
  static void TearDownTestSuite() {
    delete fixture;
    fixture = nullptr;
  }

 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    if (!fixture) GTEST_SKIP() << "GNU tar not installed";
    ASSERT_TRUE(fixture->ok) << fixture->error;
  }
};

struct Case {
  Producer producer;
  Comp comp;
  bool uring;
  bool tiny_buffers;
};

std::string case_name(const ::testing::TestParamInfo<Case>& i) {
  return str_cat(name_of(i.param.producer), "_", name_of(i.param.comp), "_",
                 i.param.uring ? "uring" : "sync", i.param.tiny_buffers ? "_tinybuf" : "");
}

class ExtractMatrixTest : public ExtractTest, public ::testing::WithParamInterface<Case> {};

TEST_P(ExtractMatrixTest, MatchesGnuTarAndDigestsAreTheStreams) {
  const Case c = GetParam();
  if (c.producer == Producer::bsd && !have_tool("bsdtar")) GTEST_SKIP() << "no bsdtar";
  std::string file = fixture->archive(c.producer, c.comp);
  TempDir out("berth-unpack");
  std::string dest = out / "layer";
  ASSERT_EQ(::mkdir(dest.c_str(), 0700), 0);
  UnpackOptions opts;
  opts.writer.use_uring = c.uring;
  if (c.tiny_buffers) {
    opts.buffer_size = 12289;  // not a block multiple: members straddle buffers
    opts.buffers = 3;
    opts.writer.batch_files = 3;
  }
  auto r = unpack_file(file, dest, opts);
  ASSERT_TRUE(r) << r.error().message;

  CompareOptions co;
  if (c.producer == Producer::bsd) {
    // bsdtar leaves "." alone, and writes a pre-1970 fractional mtime as
    // "-SEC.FRAC" meaning -SEC + FRAC (libarchive's reading agrees with its
    // writing, not with POSIX): berth reads -SEC - FRAC, as GNU tar does.
    co.ignore_mtime = {".", "own2"};
  }
  std::string diff =
      compare_trees(fixture->reference[static_cast<int>(c.producer)], snapshot(dest), co);
  EXPECT_EQ(diff, "") << "berth's tree differs from GNU tar's for " << file;

  std::string compressed = slurp(file);
  std::string plain = slurp(fixture->plain(c.producer));
  EXPECT_EQ(r->compressed_digest.to_string(), archive::sha256(compressed).to_string());
  EXPECT_EQ(r->diff_id.to_string(), archive::sha256(plain).to_string());
  EXPECT_EQ(r->compressed_size, compressed.size());
  EXPECT_EQ(r->size, plain.size());
  auto want = c.comp == Comp::none   ? archive::Compression::none
              : c.comp == Comp::gzip ? archive::Compression::gzip
                                     : archive::Compression::zstd;
  EXPECT_EQ(r->compression, want);
  // sha256sum agrees with the digest berth reports for the file.
  auto sum = run_command("sha256sum " + shell_quote(file));
  EXPECT_EQ(sum.output.substr(0, 64), r->compressed_digest.hex());
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  // GNU tar: every compression with both write paths. bsdtar and tiny
  // buffers: every compression, the write paths alternating.
  for (Comp c : {Comp::none, Comp::gzip, Comp::zstd})
    for (bool uring : {true, false}) out.push_back({Producer::gnu, c, uring, false});
  out.push_back({Producer::bsd, Comp::none, false, false});
  out.push_back({Producer::bsd, Comp::gzip, true, false});
  out.push_back({Producer::bsd, Comp::zstd, false, false});
  out.push_back({Producer::gnu, Comp::none, true, true});
  out.push_back({Producer::gnu, Comp::gzip, false, true});
  out.push_back({Producer::gnu, Comp::zstd, true, true});
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, ExtractMatrixTest, ::testing::ValuesIn(all_cases()), case_name);

// The fixture's own sanity: GNU tar restored what the tree had, so the
// comparison above compares against something meaningful.
TEST_F(ExtractTest, ReferenceTreeHasEveryKindOfMember) {
  const Tree& t = fixture->reference[0];
  auto has = [&](const std::string& p, char type) {
    auto it = t.nodes.find(p);
    return it != t.nodes.end() && it->second.type == type;
  };
  EXPECT_TRUE(has("big3", 'f'));
  EXPECT_TRUE(has("links/long", 'l'));
  EXPECT_TRUE(has("fifo", 'p'));
  EXPECT_TRUE(has("long/" + kDeep + "/file", 'f'));
  EXPECT_TRUE(has("long/" + kLongBase, 'f'));
  EXPECT_EQ(t.nodes.at("setuid_owned").mode, 06755u);
  EXPECT_EQ(t.nodes.at("own3").uid, 3000000u);
  EXPECT_EQ(t.nodes.at("own2").mtime_sec, -86400L * 365);
  EXPECT_EQ(t.nodes.at("xa").xattrs.count("user.bin"), 1u);
  EXPECT_EQ(t.nodes.at("sparse").size, 4u << 20);
  EXPECT_EQ(t.link_groups().size(), 3u);
  if (fixture->info.devices) {
    EXPECT_TRUE(has("dev/sda", 'b'));
    EXPECT_EQ(t.nodes.at("dev/big").dev_major, 300u);
  }
  // GNU tar restored the source tree exactly.
  EXPECT_EQ(compare_trees(snapshot(fixture->dir / "src"), t), "");
  if (fixture->info.capability) {
    EXPECT_EQ(t.nodes.at("cap").xattrs.count("security.capability"), 1u)
        << "GNU tar did not keep security.capability";
  }
}

TEST_F(ExtractTest, UnpackAllMatchesOneByOne) {
  std::vector<UnpackJob> jobs;
  TempDir out("berth-unpack-all");
  for (Comp c : {Comp::none, Comp::gzip, Comp::zstd}) {
    std::string dest = out / name_of(c);
    ASSERT_EQ(::mkdir(dest.c_str(), 0700), 0);
    jobs.push_back({fixture->archive(Producer::gnu, c), dest});
  }
  auto results = unpack_all(jobs, UnpackOptions{}, 3);
  ASSERT_EQ(results.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    ASSERT_TRUE(results[i]) << results[i].error().message;
    EXPECT_EQ(compare_trees(fixture->reference[0], snapshot(jobs[i].dest)), "") << jobs[i].dest;
    EXPECT_EQ(results[i]->diff_id, results[0]->diff_id);
  }
}

// --- whiteouts --------------------------------------------------------------------

std::string whiteout_layer() {
  Members m;
  m.emplace_back(dir_entry("dir"), "");
  m.emplace_back(file_entry("dir/.wh.gone"), "");
  m.emplace_back(file_entry("dir/kept"), "k");
  m.emplace_back(dir_entry("opq"), "");
  m.emplace_back(file_entry("opq/.wh..wh..opq"), "");
  m.emplace_back(file_entry("opq/new"), "n");
  m.emplace_back(file_entry(".wh.top"), "");
  // A whiteout for a path whose directory is not in the archive.
  m.emplace_back(file_entry("implicit/.wh.x"), "");
  return make_tar(m);
}

bool trusted_xattrs_work(const std::string& dir) {
  std::string p = dir + "/probe";
  spit(p, "");
  bool ok = ::setxattr(p.c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0;
  ::unlink(p.c_str());
  return ok;
}

class WhiteoutTest : public ::testing::TestWithParam<bool> {};

TEST_P(WhiteoutTest, OciWhiteoutsBecomeOverlayWhiteouts) {
  BERTH_REQUIRE_ROOT();
  TempDir t("berth-wh");
  if (!trusted_xattrs_work(t.path())) GTEST_SKIP() << "trusted.* xattrs not supported here";
  std::string file = t / "layer.tar";
  ASSERT_TRUE(spit(file, whiteout_layer()));
  std::string dest = t / "root";
  ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
  UnpackOptions opts;
  opts.writer.use_uring = GetParam();
  auto r = unpack_file(file, dest, opts);
  ASSERT_TRUE(r) << r.error().message;
  Tree tree = snapshot(dest);
  for (const std::string p : {"dir/gone", "top", "implicit/x"}) {
    ASSERT_TRUE(tree.nodes.count(p)) << p;
    const Node& n = tree.nodes.at(p);
    EXPECT_EQ(n.type, 'c') << p;
    EXPECT_EQ(n.dev_major, 0u) << p;
    EXPECT_EQ(n.dev_minor, 0u) << p;
  }
  EXPECT_EQ(tree.nodes.at("opq").xattrs["trusted.overlay.opaque"], "y");
  EXPECT_EQ(tree.nodes.at("dir").xattrs.count("trusted.overlay.opaque"), 0u);
  EXPECT_EQ(tree.nodes.at("opq/new").type, 'f');
  EXPECT_EQ(tree.nodes.at("dir/kept").type, 'f');
  for (const auto& [p, n] : tree.nodes)
    EXPECT_EQ(p.find(".wh."), std::string::npos) << "whiteout name left on disk: " << p;
}

TEST_P(WhiteoutTest, OverlayWhiteoutsOffKeepsThemAsFiles) {
  BERTH_REQUIRE_ROOT();
  TempDir t("berth-wh");
  std::string file = t / "layer.tar";
  ASSERT_TRUE(spit(file, whiteout_layer()));
  std::string dest = t / "root";
  ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
  UnpackOptions opts;
  opts.writer.use_uring = GetParam();
  opts.writer.overlay_whiteouts = false;
  auto r = unpack_file(file, dest, opts);
  ASSERT_TRUE(r) << r.error().message;
  Tree tree = snapshot(dest);
  for (const std::string p : {"dir/.wh.gone", ".wh.top", "opq/.wh..wh..opq", "implicit/.wh.x"}) {
    ASSERT_TRUE(tree.nodes.count(p)) << p;
    EXPECT_EQ(tree.nodes.at(p).type, 'f') << p;
  }
  EXPECT_FALSE(tree.nodes.count("dir/gone"));
  EXPECT_EQ(tree.nodes.at("opq").xattrs.count("trusted.overlay.opaque"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Uring, WhiteoutTest, ::testing::Bool(),
                         [](const auto& i) { return i.param ? "uring" : "sync"; });

// A later member of the same path replaces the earlier one, as tar does.
TEST(ExtractReplace, LaterMembersReplaceEarlierOnes) {
  BERTH_REQUIRE_ROOT();
  TempDir t("berth-replace");
  Members m;
  m.emplace_back(file_entry("x"), "first");
  m.emplace_back(file_entry("x"), "second");
  m.emplace_back(dir_entry("d"), "");
  m.emplace_back(file_entry("d/f"), "in dir");
  m.emplace_back(file_entry("d"), "file now");  // a file replaces the directory
  m.emplace_back(link_entry("l", "x"), "");
  m.emplace_back(file_entry("l"), "file over link");
  std::string file = t / "l.tar";
  ASSERT_TRUE(spit(file, make_tar(m)));
  for (bool uring : {true, false}) {
    std::string dest = t / (uring ? "u" : "s");
    ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
    UnpackOptions o;
    o.writer.use_uring = uring;
    auto r = unpack_file(file, dest, o);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(slurp(dest + "/x"), "second");
    EXPECT_EQ(slurp(dest + "/d"), "file now");
    EXPECT_EQ(slurp(dest + "/l"), "file over link");
    EXPECT_EQ(snapshot(dest).nodes.at("l").type, 'f');
    EXPECT_EQ(slurp(t / "l.tar").size() > 0, true);
  }
}

}  // namespace
}  // namespace berth::layers::extract
