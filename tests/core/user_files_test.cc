#include "core/runtime/user_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/runtime/user.h"
#include "tests/testlib/testlib.h"

namespace berth::core::runtime {
namespace {

namespace fs = std::filesystem;

// Three layers, top first: l1 over l2 over l3.
class LayeredFiles : public ::testing::Test {
 protected:
  LayeredFiles() {
    for (const char* l : {"l1", "l2", "l3"}) {
      fs::create_directories(dir_ / l);
      layers_.push_back(dir_ / l);
    }
  }

  void write(const std::string& rel, const std::string& text) {
    fs::path p = dir_.path() + "/" + rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void symlink(const std::string& target, const std::string& rel) {
    fs::path p = dir_.path() + "/" + rel;
    fs::create_directories(p.parent_path());
    fs::create_symlink(target, p);
  }
  // An overlay whiteout; skips the test where mknod is not allowed.
  bool whiteout(const std::string& rel) {
    fs::path p = dir_.path() + "/" + rel;
    fs::create_directories(p.parent_path());
    return ::mknod(p.c_str(), S_IFCHR | 0000, makedev(0, 0)) == 0;
  }
  bool opaque(const std::string& rel) {
    fs::path p = dir_.path() + "/" + rel;
    fs::create_directories(p);
    return ::setxattr(p.c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0;
  }
  Result<std::optional<std::string>> read(std::string_view path, size_t max = 10 << 20) {
    return read_layered_file(layers_, path, max);
  }
  std::string read_ok(std::string_view path) {
    auto r = read(path);
    EXPECT_TRUE(r) << path << ": " << r.error().message;
    if (!r) return "<error>";
    return r->value_or("<absent>");
  }

  testing::TempDir dir_{"berth-layered"};
  std::vector<std::string> layers_;
};

TEST_F(LayeredFiles, TopmostWins) {
  write("l3/etc/passwd", "base");
  EXPECT_EQ(read_ok("etc/passwd"), "base");
  write("l2/etc/passwd", "middle");
  EXPECT_EQ(read_ok("etc/passwd"), "middle");
  EXPECT_EQ(read_ok("/etc/passwd"), "middle");
  EXPECT_EQ(read_ok("./etc//passwd"), "middle");
  // Directories merge: a file only in a lower layer shows through.
  write("l1/etc/hostname", "top");
  write("l3/etc/group", "groups");
  EXPECT_EQ(read_ok("etc/group"), "groups");
  EXPECT_EQ(read_ok("etc/hostname"), "top");
  EXPECT_EQ(read_ok("etc/shadow"), "<absent>");
  EXPECT_EQ(read_ok("nosuchdir/passwd"), "<absent>");
}

TEST_F(LayeredFiles, WhiteoutHidesLowerLayers) {
  write("l3/etc/passwd", "base");
  if (!whiteout("l2/etc/passwd")) GTEST_SKIP() << "cannot create a whiteout (mknod 0/0)";
  EXPECT_EQ(read_ok("etc/passwd"), "<absent>");
  // Re-created above the whiteout.
  write("l1/etc/passwd", "again");
  EXPECT_EQ(read_ok("etc/passwd"), "again");
  // A whited-out directory hides everything below it.
  write("l3/usr/lib/os-release", "x");
  ASSERT_TRUE(whiteout("l1/usr"));
  EXPECT_EQ(read_ok("usr/lib/os-release"), "<absent>");
}

TEST_F(LayeredFiles, OpaqueDirectoryHidesLowerContents) {
  write("l3/etc/passwd", "base");
  write("l3/etc/group", "base groups");
  if (!opaque("l2/etc")) GTEST_SKIP() << "cannot set trusted.overlay.opaque here";
  write("l2/etc/group", "opaque groups");
  EXPECT_EQ(read_ok("etc/passwd"), "<absent>");
  EXPECT_EQ(read_ok("etc/group"), "opaque groups");
  // A layer above an opaque directory still merges with it.
  write("l1/etc/passwd", "top");
  EXPECT_EQ(read_ok("etc/passwd"), "top");
}

TEST_F(LayeredFiles, NonDirectoriesEndTheMerge) {
  write("l3/etc/passwd", "base");
  // A file named etc above: etc/passwd does not exist.
  write("l1/etc", "I am a file");
  EXPECT_EQ(read_ok("etc/passwd"), "<absent>");
  // A directory above a file above a directory: the lowest is hidden.
  fs::remove(dir_ / "l1/etc");
  fs::create_directories(dir_ / "l1/etc");
  write("l2/etc", "file in the middle");
  EXPECT_EQ(read_ok("etc/passwd"), "<absent>");
}

TEST_F(LayeredFiles, SymlinksResolveInsideTheRoot) {
  write("l3/usr/share/base-passwd/passwd", "linked");
  symlink("../usr/share/base-passwd/passwd", "l1/etc/passwd");
  EXPECT_EQ(read_ok("etc/passwd"), "linked");
  symlink("/usr/share/base-passwd/passwd", "l2/etc/group");
  EXPECT_EQ(read_ok("etc/group"), "linked");
  // Escapes stay in the root: /../../etc/x is /etc/x of the layers, never
  // the host's.
  symlink("../../../../../../../etc/os-release", "l1/etc/shadow");
  EXPECT_EQ(read_ok("etc/shadow"), "<absent>");
  write("l3/etc/os-release", "container os-release");
  EXPECT_EQ(read_ok("etc/shadow"), "container os-release");
  // A symlinked directory, resolved through the layers.
  write("l3/alt/hosts", "alt hosts");
  symlink("alt", "l2/conf");
  EXPECT_EQ(read_ok("conf/hosts"), "alt hosts");
  // Loops are errors.
  symlink("b", "l1/a");
  symlink("a", "l1/b");
  auto r = read("a");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno, ELOOP);
}

TEST_F(LayeredFiles, Errors) {
  fs::create_directories(dir_ / "l3/etc/passwd");
  auto r = read("etc/passwd");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is a directory"), std::string::npos);
  // The user database treats what is not a regular file as absent, as docker does.
  write("l3/etc/group", "g:x:1:");
  auto db = read_user_database(layers_);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_FALSE(db->passwd);
  EXPECT_EQ(db->group, "g:x:1:");
  // Size limit.
  write("l1/big", std::string(100, 'x'));
  r = read("big", 10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_EQ(read("big", 100).value(), std::string(100, 'x'));
  // A missing layer.
  std::vector<std::string> missing = {dir_ / "nope"};
  EXPECT_FALSE(read_layered_file(missing, "etc/passwd"));
}

TEST_F(LayeredFiles, ResolvesAUserFromLayers) {
  write("l3/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  write("l3/etc/group", "root:x:0:\n");
  write("l1/etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:999:999::/srv/app:/bin/sh\n");
  auto db = read_user_database(layers_);
  ASSERT_TRUE(db);
  auto u = resolve_user("app", db->passwd, db->group);
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->uid, 999u);
  EXPECT_EQ(u->home, "/srv/app");
}

}  // namespace
}  // namespace berth::core::runtime
