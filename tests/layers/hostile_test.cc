// Hostile layers against the unpack engine and against docker load: path
// traversal, absolute names, symlinks and hardlinks that point outside,
// directories swapped for symlinks, whiteouts and devices through links,
// broken and absurd archives, broken compression. Each must fail with an
// error that names the member, or (absolute names, links resolved as in a
// chroot) stay inside the layer root; never may anything change outside
// it — a canary directory next to the root, and host paths named by
// absolute links, are checked untouched. Through the API, a failed load
// must leave no image, no layer directory, no ingest file and no blob.
// Needs root (ownership, devices).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "layers/extract/unpack.h"
#include "tests/layers/archive_test_util.h"
#include "tests/layers/layer_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::layers::extract {
namespace {

using archive::testing::kEndBlocks;
using archive::testing::padded;
using archive::testing::pax_header;
using archive::testing::pax_record;
using archive::testing::RawHeader;
using namespace berth::layers::testing;
using berth::testing::Daemon;
using berth::testing::TempDir;

std::string member(std::string_view name, std::string_view data = "", char type = '0') {
  return RawHeader(name, type, type == '0' ? data.size() : 0).str() +
         (type == '0' ? padded(data) : std::string());
}
std::string link(std::string_view name, std::string_view target, char type = '2') {
  RawHeader h(name, type, 0);
  h.put(157, target.substr(0, 100));
  return h.str();
}
std::string dir(std::string_view name) {
  return RawHeader(name, '5', 0).str();
}

enum class Expect {
  fail,       // must fail, naming the member
  contained,  // must succeed, everything inside the root
  either,     // fail naming the member, or succeed contained
};

struct Case {
  std::string name;
  std::function<std::string(const std::string& t)> archive;  // t: the test dir
  Expect expect;
  std::string names;  // what the error must mention
  // Extra checks on the unpacked root (contained cases) and the test dir.
  std::function<void(const std::string& root, const std::string& t)> check;
};

// The test dir: root/ (the layer root), canary/keep, and the archive file.
// Everything but root/ must be the same after the unpack, and so must the
// host paths a case names.
class HostileUnpack : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    canary_ = t_ / "canary";
    ASSERT_EQ(::mkdir(canary_.c_str(), 0755), 0);
    ASSERT_TRUE(spit(canary_ + "/keep", "canary"));
  }

  void run(const Case& c) {
    SCOPED_TRACE(c.name);
    std::string root = t_ / ("root-" + c.name);
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    std::string file = t_ / (c.name + ".tar");
    ASSERT_TRUE(spit(file, c.archive(t_.path())));
    Tree before = outside(root);
    UnpackOptions o;
    o.writer.use_uring = GetParam();
    auto r = unpack_file(file, root, o);
    if (c.expect == Expect::fail) {
      EXPECT_FALSE(r) << c.name << " was accepted";
    } else if (c.expect == Expect::contained) {
      EXPECT_TRUE(r) << r.error().message;
    }
    std::cerr << "  " << c.name << ": " << (r ? "accepted" : "refused: " + r.error().message)
              << "\n";
    if (!r) {
      EXPECT_NE(r.error().message.find(c.names), std::string::npos)
          << "error does not name " << c.names << ": " << r.error().message;
    }
    EXPECT_EQ(compare_trees(before, outside(root)), "") << "something changed outside the root";
    EXPECT_EQ(slurp(canary_ + "/keep"), "canary");
    struct stat st;
    ASSERT_EQ(::stat((canary_ + "/keep").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u) << "a hard link to the canary was made";
    char v[8];
    EXPECT_LT(::getxattr(canary_.c_str(), "trusted.overlay.opaque", v, sizeof v), 0)
        << "the canary directory was marked opaque";
    if (c.check && r) c.check(root, t_.path());
  }

  // The test dir without the layer roots.
  Tree outside(const std::string& /*root*/) {
    Tree t = snapshot(t_.path());
    std::erase_if(t.nodes, [](const auto& kv) { return kv.first.starts_with("root-"); });
    t.nodes.erase(".");  // its mtime changes as roots are made
    return t;
  }

  TempDir t_{"berth-hostile"};
  std::string canary_;
};

std::string abs_host_path() {
  return str_cat("/tmp/berth-hostile-abs-", ::getpid());
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto end = [](std::string s) { return s + kEndBlocks; };
  v.push_back({"dotdot", [&](auto&) { return end(member("../escape", "x")); }, Expect::fail,
               "../escape", nullptr});
  v.push_back({"dotdot_inner", [&](auto&) { return end(member("a/b/../../../escape2", "x")); },
               Expect::fail, "escape2", nullptr});
  v.push_back({"dotdot_dir", [&](auto&) { return end(dir("../escdir")); }, Expect::fail, "escdir",
               nullptr});
  v.push_back({"dotdot_symlink_name", [&](auto&) { return end(link("../esclink", "x")); },
               Expect::fail, "esclink", nullptr});
  v.push_back({"dotdot_whiteout", [&](auto&) { return end(member("../.wh.canary", "")); },
               Expect::fail, ".wh.canary", nullptr});
  v.push_back({"absolute", [&](auto&) { return end(member(abs_host_path(), "abs")); },
               Expect::contained, "",
               [](const std::string& root, auto&) {
                 EXPECT_EQ(slurp(root + abs_host_path()), "abs");
                 EXPECT_FALSE(path_exists(abs_host_path())) << "written on the host";
               }});
  v.push_back({"absolute_into_canary",
               [&](const std::string& t) { return end(member(t + "/canary/abs", "abs")); },
               Expect::contained, "",
               [](const std::string& root, const std::string& t) {
                 EXPECT_EQ(slurp(root + t + "/canary/abs"), "abs");
               }});
  // Symlinks that point out, then members written through them.
  v.push_back({"symlink_abs_then_file",
               [&](const std::string& t) {
                 return end(link("out", t + "/canary") + member("out/pwned", "x"));
               },
               Expect::either, "out/pwned",
               [](const std::string& root, const std::string& t) {
                 EXPECT_TRUE(path_exists(root + t + "/canary/pwned"));
               }});
  v.push_back(
      {"symlink_dotdot_then_file",
       [&](auto&) { return end(link("up", "../../../../../..") + member("up/pwned2", "x")); },
       Expect::either, "up/pwned2",
       [](const std::string& root, auto&) {
         EXPECT_EQ(slurp(root + "/pwned2"), "x");  // ".." stops at the root
       }});
  v.push_back({"symlink_relative_canary_then_file",
               [&](auto&) { return end(link("rc", "../canary") + member("rc/pwned", "x")); },
               Expect::either, "rc/pwned", nullptr});
  v.push_back({"symlink_chain",
               [&](auto&) {
                 return end(link("c1", "c2") + link("c2", "sub/c3") + dir("sub") +
                            link("sub/c3", "../../canary") + member("c1/pwned3", "x"));
               },
               Expect::either, "c1/pwned3", nullptr});
  v.push_back(
      {"symlink_loop",
       [&](auto&) { return end(link("la", "lb") + link("lb", "la") + member("la/x", "x")); },
       Expect::fail, "la/x", nullptr});
  v.push_back({"symlink_to_root_then_deep_file",
               [&](auto&) { return end(link("rootlink", "/") + member("rootlink/tmp/x", "x")); },
               Expect::either, "rootlink/tmp/x",
               [](const std::string& root, auto&) { EXPECT_EQ(slurp(root + "/tmp/x"), "x"); }});
  // Links into the layer's own tree resolve there, as in a chroot.
  v.push_back({"symlink_abs_to_own_dir",
               [&](auto&) {
                 return end(dir("etc") + link("lnk", "/etc") + member("lnk/passwd", "pw") +
                            link("rel", "../../../etc") + member("rel/group", "gr") +
                            dir("lnk/sub") + member("lnk/sub/f", "f"));
               },
               Expect::contained, "",
               [](const std::string& root, auto&) {
                 EXPECT_EQ(slurp(root + "/etc/passwd"), "pw");
                 EXPECT_EQ(slurp(root + "/etc/group"), "gr");
                 EXPECT_EQ(slurp(root + "/etc/sub/f"), "f");
                 EXPECT_FALSE(path_exists("/etc/sub/f"));
               }});
  v.push_back({"dir_replaced_by_symlink",
               [&](auto&) {
                 return end(dir("d") + member("d/f", "f") + link("d", "../canary") +
                            member("d/pwned4", "x"));
               },
               Expect::either, "d/pwned4", nullptr});
  v.push_back({"dir_through_symlink",
               [&](auto&) { return end(link("s", "../canary") + dir("s/newdir")); }, Expect::either,
               "s/newdir", nullptr});
  v.push_back({"whiteout_through_symlink",
               [&](auto&) { return end(link("s", "../canary") + member("s/.wh.keep")); },
               Expect::either, "s/", nullptr});
  v.push_back(
      {"whiteout_through_abs_symlink",
       [&](const std::string& t) { return end(link("s", t + "/canary") + member("s/.wh.keep")); },
       Expect::either, "s/", nullptr});
  v.push_back({"opaque_through_symlink",
               [&](auto&) { return end(link("s", "../canary") + member("s/.wh..wh..opq")); },
               Expect::either, "s/", nullptr});
  v.push_back({"fifo_through_symlink",
               [&](auto&) { return end(link("s", "../canary") + member("s/fifo", "", '6')); },
               Expect::either, "s/fifo", nullptr});
  v.push_back({"hardlink_named_through_symlink",
               [&](auto&) {
                 return end(member("f", "f") + link("s", "../canary") + link("s/hl", "f", '1'));
               },
               Expect::either, "s/hl", nullptr});
  // Hardlinks to what is not an earlier member of this layer.
  v.push_back({"hardlink_dotdot", [&](auto&) { return end(link("h1", "../canary/keep", '1')); },
               Expect::fail, "h1", nullptr});
  v.push_back({"hardlink_absolute",
               [&](const std::string& t) { return end(link("h2", t + "/canary/keep", '1')); },
               Expect::fail, "h2", nullptr});
  v.push_back({"hardlink_through_symlink",
               [&](auto&) { return end(link("s", "../canary") + link("h3", "s/keep", '1')); },
               Expect::fail, "h3", nullptr});
  v.push_back({"hardlink_through_abs_symlink",
               [&](const std::string& t) {
                 return end(link("s", t + "/canary") + link("h3b", "s/keep", '1'));
               },
               Expect::fail, "h3b", nullptr});
  v.push_back({"hardlink_missing", [&](auto&) { return end(link("h4", "nope", '1')); },
               Expect::fail, "h4", nullptr});
  v.push_back({"hardlink_to_dir", [&](auto&) { return end(dir("dd") + link("h5", "dd", '1')); },
               Expect::fail, "h5", nullptr});
  v.push_back({"hardlink_to_symlink_pointing_out",
               [&](auto&) { return end(link("so", "../canary/keep") + link("h6", "so", '1')); },
               Expect::either, "h6",
               [](const std::string& root, auto&) {
                 struct stat st;
                 ASSERT_EQ(::lstat((root + "/h6").c_str(), &st), 0);
                 EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link followed the symlink";
               }});
  // Members that replace the root itself.
  v.push_back(
      {"file_as_root", [&](auto&) { return end(member(".", "x")); }, Expect::fail, "", nullptr});
  // Broken archives.
  v.push_back({"absurd_size",
               [&](auto&) {
                 RawHeader h("huge", '0', 0);
                 h.base256(124, 12, (uint64_t{1} << 63) - 1);
                 return h.str() + std::string(4096, 'x') + kEndBlocks;
               },
               Expect::fail, "header at offset 0", nullptr});  // the header is the member
  v.push_back({"huge_but_representable_size",
               [&](auto&) {
                 RawHeader h("huge2", '0', 0);
                 h.base256(124, 12, uint64_t{1} << 60);
                 return member("ok", "ok") + h.str() + std::string(4096, 'x') + kEndBlocks;
               },
               Expect::fail, "huge2", nullptr});
  v.push_back(
      {"truncated_header",
       [&](auto&) { return member("ok", "ok") + RawHeader("cut", '0', 5).str().substr(0, 300); },
       Expect::fail, "", nullptr});
  v.push_back(
      {"truncated_body",
       [&](auto&) { return RawHeader("short", '0', 100000).str() + std::string(1024, 'y'); },
       Expect::fail, "short", nullptr});
  v.push_back({"bad_checksum",
               [&](auto&) {
                 std::string h = RawHeader("victim", '0', 0).str();
                 h[0] = 'V';
                 return member("ok", "ok") + h + kEndBlocks;
               },
               Expect::fail, "checksum", nullptr});
  v.push_back({"huge_pax_header",
               [&](auto&) {
                 std::string rec = pax_record("comment", std::string(3 << 20, 'p'));
                 return pax_header(rec) + member("after", "x") + kEndBlocks;
               },
               Expect::fail, "", nullptr});
  return v;
}

TEST_P(HostileUnpack, Corpus) {
  for (const Case& c : cases()) run(c);
}

// Broken compression.
TEST_P(HostileUnpack, BrokenCompression) {
  std::string tar = make_tar({{file_entry("victim"), pseudo_random(300000, 3)}});
  auto gz = archive::compress(tar, archive::Compression::gzip);
  ASSERT_TRUE(gz);
  std::string bad_crc = *gz;
  bad_crc[bad_crc.size() - 6] ^= 0x55;  // inside the CRC32 of the trailer
  std::string bad_len = *gz;
  bad_len[bad_len.size() - 2] ^= 0x55;  // inside ISIZE
  auto zs = archive::compress(tar, archive::Compression::zstd);
  ASSERT_TRUE(zs);
  std::string corrupt_mid = *gz;
  for (size_t i = corrupt_mid.size() / 2; i < corrupt_mid.size() / 2 + 64; ++i)
    corrupt_mid[i] = static_cast<char>(~corrupt_mid[i]);
  struct B {
    const char* name;
    std::string data;
  } bs[] = {{"gzip_bad_crc", bad_crc},
            {"gzip_bad_isize", bad_len},
            {"gzip_truncated", gz->substr(0, gz->size() / 2)},
            {"gzip_truncated_trailer", gz->substr(0, gz->size() - 3)},
            {"gzip_corrupt_middle", corrupt_mid},
            {"gzip_trailing_garbage", *gz + "garbage!"},
            {"zstd_truncated", zs->substr(0, zs->size() - 10)},
            {"gzip_header_only", gz->substr(0, 10)}};
  for (const auto& b : bs) {
    SCOPED_TRACE(b.name);
    std::string root = t_ / (std::string("root-") + b.name);
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    std::string file = t_ / (std::string(b.name) + ".tgz");
    ASSERT_TRUE(spit(file, b.data));
    UnpackOptions o;
    o.writer.use_uring = GetParam();
    auto r = unpack_file(file, root, o);
    EXPECT_FALSE(r) << b.name << " was accepted";
  }
}

INSTANTIATE_TEST_SUITE_P(Uring, HostileUnpack, ::testing::Bool(),
                         [](const auto& i) { return i.param ? "uring" : "sync"; });

// --- through POST /images/load -------------------------------------------------

class HostileLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    if (!have_tool("curl")) GTEST_SKIP() << "curl not installed";
    ASSERT_TRUE(daemon_.start());
  }
  void TearDown() override { daemon_.stop(std::chrono::seconds(5)); }

  // Loads archive and expects it refused with a message containing what;
  // then nothing of it may remain.
  void refused(const std::string& name, const std::string& archive, const std::string& what) {
    SCOPED_TRACE(name);
    std::string file = t_ / (name + ".tar");
    ASSERT_TRUE(spit(file, archive));
    auto blobs_before = blobs_of(daemon_.root());
    auto layers_before = list_dir(daemon_.root() + "/layers");
    auto r = http(daemon_.socket_path(), "POST", "/images/load?quiet=1", file);
    EXPECT_GE(r.status, 400) << r.body;
    EXPECT_LT(r.status, 600) << r.body;
    EXPECT_NE(r.body.find("\"message\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(what), std::string::npos)
        << "message does not mention " << what << ": " << r.body;
    auto list = http(daemon_.socket_path(), "GET", "/images/json");
    EXPECT_EQ(list.status, 200);
    EXPECT_EQ(trim(list.body), "[]") << "an image was registered";
    EXPECT_EQ(list_dir(daemon_.root() + "/layers"), layers_before)
        << "layer directories left behind";
    EXPECT_EQ(list_dir(daemon_.root() + "/content/ingest"), std::vector<std::string>{})
        << "ingest files left behind";
    EXPECT_EQ(blobs_of(daemon_.root()), blobs_before) << "blobs left behind";
  }

  TempDir t_{"berth-hostile-load"};
  Daemon daemon_;
};

TEST_F(HostileLoad, HostileLayerInsideADockerArchive) {
  ImageSpec img;
  img.tags = {"hostile:1"};
  img.layers.push_back(make_layer(make_tar({{file_entry("fine"), "fine layer"}})));
  Members evil;
  evil.emplace_back(file_entry("ok"), "ok");
  evil.emplace_back(file_entry("../escape"), "escaped");
  img.layers.push_back(make_layer(make_tar(evil)));
  refused("dotdot_layer", make_docker_archive({img}), "escape");
  EXPECT_FALSE(path_exists(daemon_.root() + "/escape"));
  EXPECT_FALSE(path_exists(daemon_.root() + "/layers/escape"));
}

TEST_F(HostileLoad, HardlinkOutLayer) {
  ImageSpec img;
  img.tags = {"hostile:2"};
  img.layers.push_back(
      make_layer(make_tar({{link_entry("pw", "../../../../etc/passwd", true), ""}})));
  refused("hardlink_layer", make_docker_archive({img}), "pw");
}

TEST_F(HostileLoad, DiffIdMismatch) {
  ImageSpec img = small_image("mismatch:1", "m");
  img.diff_ids_override = {archive::sha256("something else").to_string()};
  refused("mismatch", make_docker_archive({img}), "does not match");
}

TEST_F(HostileLoad, BrokenGzipLayer) {
  ImageSpec img = small_image("badgz:1", "b");
  std::string& blob = img.layers[0].blob;
  blob[blob.size() - 6] ^= 0x55;  // CRC
  img.layers[0].digest = archive::sha256(blob).to_string();
  refused("bad_crc", make_docker_archive({img}), "layer");
}

TEST_F(HostileLoad, TruncatedOuterArchive) {
  std::string a = make_docker_archive({small_image("trunc:1", "t")});
  refused("truncated", a.substr(0, a.size() / 2 + 100), "image archive");
}

TEST_F(HostileLoad, ManifestNamesPathsOutsideTheArchive) {
  std::string manifest =
      "[{\"Config\":\"../../../etc/passwd\",\"RepoTags\":[\"x:1\"],\"Layers\":[\"/etc/shadow\"]}]";
  refused("outside_paths", make_tar({{file_entry("manifest.json"), manifest}}), "etc/");
}

TEST_F(HostileLoad, LinkLoopsInTheOuterArchive) {
  Members m;
  m.emplace_back(link_entry("a.json", "b.json"), "");
  m.emplace_back(link_entry("b.json", "a.json"), "");
  m.emplace_back(file_entry("manifest.json"),
                 "[{\"Config\":\"a.json\",\"RepoTags\":[\"loop:1\"],\"Layers\":[]}]");
  refused("link_loop", make_tar(m), "a.json");
}

TEST_F(HostileLoad, NotAnImage) {
  refused("not_image", make_tar({{file_entry("hello.txt"), "hello"}}), "not an image archive");
}

TEST_F(HostileLoad, AValidLoadAfterwardsWorks) {
  ImageSpec img;
  img.tags = {"after:1"};
  img.layers.push_back(
      make_layer(make_tar({{file_entry("ok"), "ok"}, {file_entry("../escape"), "x"}})));
  refused("hostile_first", make_docker_archive({img}), "escape");
  std::string file = t_ / "good.tar";
  ASSERT_TRUE(spit(file, make_docker_archive({small_image("good:1", "g")})));
  auto r = http(daemon_.socket_path(), "POST", "/images/load", file);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("good:1"), std::string::npos) << r.body;
  auto list = http(daemon_.socket_path(), "GET", "/images/json");
  EXPECT_NE(list.body.find("good:1"), std::string::npos) << list.body;
}

}  // namespace
}  // namespace berth::layers::extract
