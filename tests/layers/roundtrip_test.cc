// Images through other tools and back: what berthd saves, skopeo and umoci
// read (docker-archive and OCI layout); what skopeo and umoci make, berthd
// loads with the same image ID (config digest) and diff IDs as those tools
// report; save -> load -> save is byte-identical. Uses the real docker CLI
// against berthd. Skips when docker, skopeo or umoci are missing, or
// without root (umoci unpack, import of a root-owned tree).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/layers/layer_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::layers {
namespace {

using namespace berth::layers::testing;
using berth::testing::CommandResult;
using berth::testing::Daemon;
using berth::testing::run_command;
using berth::testing::TempDir;

const char* kDocker = "/usr/local/bin/docker";

class RoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    if (::access(kDocker, X_OK) != 0) GTEST_SKIP() << "no docker CLI at " << kDocker;
    if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo not installed";
    if (!have_tool("jq")) GTEST_SKIP() << "jq not installed";
    if (::access("/usr/bin/busybox", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/busybox";
    ASSERT_TRUE(daemon_.start());
    started_ = true;
    // A busybox root filesystem, imported as bb:1.
    std::string rootfs = t_ / "rootfs";
    ASSERT_NO_FATAL_FAILURE(sh(
        "mkdir -p " + q(rootfs) + "/bin " + q(rootfs) + "/etc " + q(rootfs) + "/tmp && cp " +
        "/usr/bin/busybox " + q(rootfs) + "/bin/busybox && ln -s busybox " + q(rootfs) +
        "/bin/sh && echo hello > " + q(rootfs) + "/etc/hello && chmod 1777 " + q(rootfs) + "/tmp"));
    ASSERT_NO_FATAL_FAILURE(
        sh("tar --numeric-owner -C " + q(rootfs) + " -czf " + q(t_ / "rootfs.tgz") + " ."));
    auto r = docker("import --change 'CMD [\"/bin/sh\"]' -m 'roundtrip' " + q(t_ / "rootfs.tgz") +
                    " bb:1");
    ASSERT_EQ(r.status, 0) << r.output;
    id_ = trim_copy(docker("image inspect --format '{{.Id}}' bb:1").output);
    ASSERT_TRUE(id_.starts_with("sha256:")) << id_;
    layers_ = trim_copy(docker("image inspect --format '{{json .RootFS.Layers}}' bb:1").output);
  }
  void TearDown() override {
    // A clean exit is checked by ImagesApi.DaemonExitsAfterImageRequests.
    if (started_) daemon_.stop(std::chrono::seconds(5));
  }

  static std::string q(const std::string& s) { return shell_quote(s); }
  static std::string trim_copy(std::string_view s) { return std::string(trim(s)); }
  // Shell commands (skopeo, umoci, tar, jq), each bounded in time.
  static CommandResult bounded(const std::string& cmd) {
    return run_command("timeout 120 bash -c " + q(cmd));
  }
  void sh(const std::string& cmd) {
    auto r = bounded(cmd);
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output;
  }
  std::string out(const std::string& cmd) {
    auto r = bounded(cmd);
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
    return trim_copy(r.output);
  }
  CommandResult docker(const std::string& args) {
    return run_command(str_cat("env -u DOCKER_CONTEXT DOCKER_HOST=", daemon_.host_url(),
                               " DOCKER_CONFIG=", t_.path(), "/dockercfg timeout 60 ", kDocker, " ",
                               args));
  }
  // Runs docker and fails the test (with its output) unless it succeeds.
  void dk(const std::string& args) {
    auto r = docker(args);
    ASSERT_EQ(r.status, 0) << "docker " << args << "\n" << r.output;
  }
  // sha256 of a file, "sha256:..."
  std::string digest_of_file(const std::string& path) {
    return "sha256:" + out("sha256sum " + q(path) + " | cut -c1-64");
  }

  TempDir t_{"berth-roundtrip"};
  Daemon daemon_;
  bool started_ = false;
  std::string id_, layers_;
};

TEST_F(RoundTrip, SkopeoReadsTheSavedDockerArchive) {
  std::string saved = t_ / "saved.tar";
  auto r = docker("save -o " + q(saved) + " bb:1");
  ASSERT_EQ(r.status, 0) << r.output;
  // The config skopeo finds is the image's config, byte for byte.
  sh("skopeo inspect --config --raw docker-archive:" + q(saved) + " > " + q(t_ / "cfg.json"));
  EXPECT_EQ(digest_of_file(t_ / "cfg.json"), id_);
  EXPECT_EQ(out("jq -c .rootfs.diff_ids " + q(t_ / "cfg.json")), layers_);
  // The manifest it builds points at that config and at as many layers.
  std::string manifest = out("skopeo inspect --raw docker-archive:" + q(saved));
  EXPECT_EQ(out("echo " + q(manifest) + " | jq -r .config.digest"), id_);
  EXPECT_EQ(out("echo " + q(manifest) + " | jq '.layers | length'"), "1");
  // The plain inspect works and names the tag.
  auto plain = bounded("skopeo inspect docker-archive:" + q(saved));
  EXPECT_EQ(plain.status, 0) << plain.output;
  EXPECT_NE(plain.output.find("\"Layers\""), std::string::npos) << plain.output;
  // A specific image by name inside the archive.
  auto named = bounded("skopeo inspect --raw docker-archive:" + q(saved) + ":bb:1");
  EXPECT_EQ(named.status, 0) << named.output;
}

TEST_F(RoundTrip, SkopeoReadsTheSavedArchiveAsAnOciLayout) {
  std::string saved = t_ / "saved.tar";
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(saved) + " bb:1"));
  std::string layout = t_ / "layout";
  sh("mkdir -p " + q(layout) + " && tar -xf " + q(saved) + " -C " + q(layout));
  EXPECT_TRUE(path_exists(layout + "/oci-layout"));
  EXPECT_TRUE(path_exists(layout + "/index.json"));
  sh("skopeo inspect --config --raw oci:" + q(layout) + ":1 > " + q(t_ / "cfg.json"));
  EXPECT_EQ(digest_of_file(t_ / "cfg.json"), id_);
  // Every blob is named by its digest.
  for (const auto& hex : list_dir(layout + "/blobs/sha256"))
    EXPECT_EQ(digest_of_file(layout + "/blobs/sha256/" + hex), "sha256:" + hex);
}

TEST_F(RoundTrip, UmociListsAndUnpacksTheSavedLayout) {
  if (!have_tool("umoci")) GTEST_SKIP() << "umoci not installed";
  std::string saved = t_ / "saved.tar";
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(saved) + " bb:1"));
  std::string layout = t_ / "layout";
  sh("mkdir -p " + q(layout) + " && tar -xf " + q(saved) + " -C " + q(layout));
  auto ls = bounded("umoci ls --layout " + q(layout));
  ASSERT_EQ(ls.status, 0) << ls.output;
  EXPECT_NE(ls.output.find("1"), std::string::npos) << ls.output;
  std::string bundle = t_ / "bundle";
  auto up = bounded("umoci unpack --image " + q(layout) + ":1 " + q(bundle));
  ASSERT_EQ(up.status, 0) << up.output;
  EXPECT_EQ(slurp(bundle + "/rootfs/etc/hello"), "hello\n");
  EXPECT_EQ(slurp(bundle + "/rootfs/bin/busybox"), slurp("/usr/bin/busybox"));
  struct stat st;
  ASSERT_EQ(::lstat((bundle + "/rootfs/bin/sh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::lstat((bundle + "/rootfs/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  // The runtime config umoci derives carries the image's CMD.
  EXPECT_NE(slurp(bundle + "/config.json").find("/bin/sh"), std::string::npos);
}

TEST_F(RoundTrip, SkopeoOciArchiveLoadsWithTheSameIds) {
  std::string saved = t_ / "saved.tar";
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(saved) + " bb:1"));
  std::string oci = t_ / "oci.tar";
  sh("skopeo copy -q docker-archive:" + q(saved) + " oci-archive:" + q(oci) + ":skopeo-tag");
  sh("skopeo inspect --config --raw oci-archive:" + q(oci) + ":skopeo-tag > " + q(t_ / "cfg.json"));
  std::string want_id = digest_of_file(t_ / "cfg.json");
  std::string want_layers = out("jq -c .rootfs.diff_ids " + q(t_ / "cfg.json"));
  // Drop what berth has, so the load must really register it.
  auto rmi = docker("rmi bb:1");
  ASSERT_EQ(rmi.status, 0) << rmi.output;
  auto load = docker("load -i " + q(oci));
  ASSERT_EQ(load.status, 0) << load.output;
  EXPECT_NE(load.output.find(want_id), std::string::npos) << load.output;
  EXPECT_EQ(trim_copy(docker("image inspect --format '{{.Id}}' " + want_id).output), want_id);
  EXPECT_EQ(trim_copy(docker("image inspect --format '{{json .RootFS.Layers}}' " + want_id).output),
            want_layers);
}

TEST_F(RoundTrip, SkopeoDockerArchiveLoadsWithItsTag) {
  std::string saved = t_ / "saved.tar";
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(saved) + " bb:1"));
  std::string c = t_ / "c.tar";
  sh("skopeo copy -q docker-archive:" + q(saved) + " docker-archive:" + q(c) +
     ":example.com/other/name:tag");
  sh("skopeo inspect --config --raw docker-archive:" + q(c) + " > " + q(t_ / "cfg.json"));
  std::string want_id = digest_of_file(t_ / "cfg.json");
  std::string want_layers = out("jq -c .rootfs.diff_ids " + q(t_ / "cfg.json"));
  ASSERT_NO_FATAL_FAILURE(dk("rmi bb:1"));
  auto load = docker("load -i " + q(c));
  ASSERT_EQ(load.status, 0) << load.output;
  EXPECT_NE(load.output.find("example.com/other/name:tag"), std::string::npos) << load.output;
  EXPECT_EQ(trim_copy(docker("image inspect --format '{{.Id}}' example.com/other/name:tag").output),
            want_id);
  EXPECT_EQ(trim_copy(docker("image inspect --format '{{json .RootFS.Layers}}' "
                             "example.com/other/name:tag")
                          .output),
            want_layers);
  // The layer is there, unpacked.
  std::string diff_hex = out("jq -r '.rootfs.diff_ids[0]' " + q(t_ / "cfg.json") + " | cut -c8-");
  EXPECT_EQ(slurp(daemon_.root() + "/layers/" + diff_hex + "/diff/etc/hello"), "hello\n");
}

TEST_F(RoundTrip, UmociMadeImageLoadsWithTheSameIds) {
  if (!have_tool("umoci")) GTEST_SKIP() << "umoci not installed";
  std::string l = t_ / "umoci";
  std::string b = t_ / "ubundle";
  sh("umoci init --layout " + q(l));
  sh("umoci new --image " + q(l) + ":t");
  sh("umoci unpack --image " + q(l) + ":t " + q(b));
  sh("mkdir -p " + q(b) + "/rootfs/data && echo umoci > " + q(b) +
     "/rootfs/data/file && ln -s file " + q(b) + "/rootfs/data/link");
  sh("umoci repack --image " + q(l) + ":t " + q(b));
  sh("umoci config --image " + q(l) + ":t --config.cmd /bin/true --config.label made=umoci");
  sh("tar -C " + q(l) + " -cf " + q(t_ / "umoci.tar") + " .");
  // What umoci wrote: index -> manifest -> config.
  std::string mdig = out("jq -r '.manifests[0].digest' " + q(l + "/index.json") + " | cut -c8-");
  std::string cdig = out("jq -r .config.digest " + q(l + "/blobs/sha256/" + mdig));
  std::string cfg = l + "/blobs/sha256/" + cdig.substr(7);
  std::string want_layers = out("jq -c .rootfs.diff_ids " + q(cfg));
  EXPECT_EQ(digest_of_file(cfg), cdig);
  auto load = docker("load -i " + q(t_ / "umoci.tar"));
  ASSERT_EQ(load.status, 0) << load.output;
  EXPECT_NE(load.output.find(cdig), std::string::npos) << load.output;
  EXPECT_EQ(trim_copy(docker("image inspect --format '{{json .RootFS.Layers}}' " + cdig).output),
            want_layers);
  EXPECT_EQ(trim_copy(docker("image inspect --format '{{json .Config.Labels}}' " + cdig).output),
            "{\"made\":\"umoci\"}");
  std::string diff_hex = out("jq -r '.rootfs.diff_ids[-1]' " + q(cfg) + " | cut -c8-");
  EXPECT_EQ(slurp(daemon_.root() + "/layers/" + diff_hex + "/diff/data/file"), "umoci\n");
}

TEST_F(RoundTrip, SaveLoadSaveIsByteIdentical) {
  std::string s1 = t_ / "s1.tar", s1b = t_ / "s1b.tar", s2 = t_ / "s2.tar";
  ASSERT_NO_FATAL_FAILURE(dk("tag bb:1 other:2"));
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(s1) + " bb:1 other:2"));
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(s1b) + " bb:1 other:2"));
  EXPECT_EQ(bounded("cmp " + q(s1) + " " + q(s1b)).status, 0) << "two saves differ";
  auto rmi = docker("rmi -f " + id_);
  ASSERT_EQ(rmi.status, 0) << rmi.output;
  EXPECT_EQ(trim_copy(docker("images -q").output), "");
  auto load = docker("load -i " + q(s1));
  ASSERT_EQ(load.status, 0) << load.output;
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(s2) + " bb:1 other:2"));
  auto cmp = bounded("cmp " + q(s1) + " " + q(s2));
  EXPECT_EQ(cmp.status, 0) << "save after load differs: " << cmp.output;
  EXPECT_EQ(trim_copy(docker("image inspect --format '{{.Id}}' bb:1").output), id_);
}

// A layer that came in uncompressed (skopeo's docker-archive) and one that
// came gzip'd (import) both save as the tar whose digest is the diff ID.
TEST_F(RoundTrip, SavedLayersAreTheirDiffIds) {
  std::string saved = t_ / "saved.tar";
  ASSERT_NO_FATAL_FAILURE(dk("save -o " + q(saved) + " bb:1"));
  std::string layout = t_ / "layout";
  sh("mkdir -p " + q(layout) + " && tar -xf " + q(saved) + " -C " + q(layout));
  std::string layers = out("jq -r '.[0].Layers[]' " + q(layout + "/manifest.json"));
  std::string diff = out("echo " + q(layers_) + " | jq -r '.[0]'");
  EXPECT_EQ(digest_of_file(layout + "/" + layers), diff);
}

}  // namespace
}  // namespace berth::layers
