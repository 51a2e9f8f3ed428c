// Crash safety of docker load: berthd is SIGKILLed while a big
// docker-archive streams into POST /images/load — while members are being
// ingested, while layers unpack, and once layers are committed but the image
// is not yet registered. Restarted on the same root it must start, list no
// half-loaded image, keep what was loaded before, leave no tmp-/del- or
// unregistered layer directory, no ingest file and no unreferenced blob; and
// the same load must then succeed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "tests/layers/layer_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::layers {
namespace {

using namespace berth::layers::testing;
using berth::testing::connect_unix;
using berth::testing::Daemon;
using berth::testing::send_all;
using berth::testing::TempDir;

struct BigImage {
  std::string archive;
  std::vector<std::string> diff_ids;
};

// Three layers of pseudo-random files (about 20 MB each), the first gzip'd.
const BigImage& big_image() {
  static BigImage* img = [] {
    auto* b = new BigImage();
    ImageSpec s;
    s.tags = {"big:1"};
    for (int l = 0; l < 3; ++l) {
      Members m;
      m.emplace_back(dir_entry(str_cat("layer", l)), "");
      for (int f = 0; f < 10; ++f)
        m.emplace_back(file_entry(str_cat("layer", l, "/f", f)),
                       pseudo_random(2 << 20, static_cast<uint64_t>(l * 100 + f)));
      for (int f = 0; f < 200; ++f)
        m.emplace_back(file_entry(str_cat("layer", l, "/small", f)),
                       pseudo_random(1000, static_cast<uint64_t>(l * 1000 + f)));
      s.layers.push_back(make_layer(
          make_tar(m), l == 0 ? archive::Compression::gzip : archive::Compression::none));
      b->diff_ids.push_back(s.layers.back().diff_id);
    }
    b->archive = make_docker_archive({s});
    return b;
  }();
  return *img;
}

// Layer directories that are not committed layers (leftovers).
std::vector<std::string> leftovers(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& n : list_dir(root + "/layers"))
    if (n.starts_with("tmp-") || n.starts_with("del-") || n.size() != 64) out.push_back(n);
  return out;
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    if (!have_tool("curl")) GTEST_SKIP() << "curl not installed";
    ASSERT_TRUE(daemon_.start());
    // An image loaded before the crash must survive it.
    std::string small = t_ / "small.tar";
    ASSERT_TRUE(spit(small, make_docker_archive({small_image("before:1", "before")})));
    auto r = http(daemon_.socket_path(), "POST", "/images/load", small);
    ASSERT_EQ(r.status, 200) << r.body;
    before_layer_ = small_image("before:1", "before").layers[0].diff_id.substr(7);
    ASSERT_TRUE(path_exists(daemon_.root() + "/layers/" + before_layer_));
    before_blobs_ = blobs_of(daemon_.root());
  }
  void TearDown() override { daemon_.stop(std::chrono::seconds(5)); }

  // Starts streaming the big archive; sends `upto` bytes of its body. sent
  // tells whether they all went (a kill in between makes them not).
  berth::unique_fd start_load(size_t upto, bool* sent = nullptr) {
    const std::string& a = big_image().archive;
    berth::unique_fd fd = connect_unix(daemon_.socket_path());
    EXPECT_TRUE(fd);
    if (!fd) return fd;
    timeval tv{60, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string head =
        str_cat("POST /images/load HTTP/1.1\r\nHost: x\r\n",
                "Content-Type: application/x-tar\r\nContent-Length: ", a.size(), "\r\n\r\n");
    bool ok = send_all(fd.get(), head) &&
              send_all(fd.get(), std::string_view(a).substr(0, std::min(upto, a.size())));
    if (sent) {
      *sent = ok;
    } else {
      EXPECT_TRUE(ok) << "the daemon stopped reading the upload";
    }
    return fd;
  }

  void kill_and_restart() {
    ASSERT_GT(daemon_.pid(), 0);
    ASSERT_EQ(::kill(daemon_.pid(), SIGKILL), 0);
    EXPECT_EQ(daemon_.stop(), 128 + SIGKILL);
    ASSERT_TRUE(daemon_.start()) << "berthd does not start after a crash";
  }

  void expect_clean_after_restart() {
    const std::string& root = daemon_.root();
    auto list = http(daemon_.socket_path(), "GET", "/images/json");
    EXPECT_EQ(list.status, 200);
    EXPECT_EQ(list.body.find("big:1"), std::string::npos) << "half-loaded image listed";
    EXPECT_NE(list.body.find("before:1"), std::string::npos) << "earlier image lost";
    EXPECT_EQ(leftovers(root), std::vector<std::string>{}) << "leftover layer directories";
    EXPECT_EQ(list_dir(root + "/layers"), std::vector<std::string>{before_layer_})
        << "unregistered layer directories remain";
    EXPECT_TRUE(path_exists(root + "/layers/" + before_layer_ + "/diff/etc/marker"));
    EXPECT_EQ(list_dir(root + "/content/ingest"), std::vector<std::string>{})
        << "ingest files remain";
    EXPECT_EQ(blobs_of(root), before_blobs_) << "unreferenced blobs remain";
  }

  void expect_load_succeeds() {
    std::string file = t_ / "big.tar";
    if (!path_exists(file)) {
      ASSERT_TRUE(spit(file, big_image().archive));
    }
    auto r = http(daemon_.socket_path(), "POST", "/images/load", file);
    ASSERT_EQ(r.status, 200) << r.body << daemon_.log();
    EXPECT_NE(r.body.find("big:1"), std::string::npos) << r.body;
    auto list = http(daemon_.socket_path(), "GET", "/images/json");
    EXPECT_NE(list.body.find("big:1"), std::string::npos) << list.body;
    for (const auto& d : big_image().diff_ids)
      EXPECT_TRUE(path_exists(daemon_.root() + "/layers/" + d.substr(7) + "/diff/layer" +
                              std::to_string(&d - &big_image().diff_ids[0]) + "/f9"))
          << d;
    EXPECT_EQ(leftovers(daemon_.root()), std::vector<std::string>{});
    EXPECT_EQ(list_dir(daemon_.root() + "/content/ingest"), std::vector<std::string>{});
  }

  TempDir t_{"berth-crash"};
  Daemon daemon_;
  std::string before_layer_;
  std::vector<std::string> before_blobs_;
};

TEST_F(CrashTest, KilledDuringIngest) {
  auto fd = start_load(10 << 20);
  // A member is being written into the ingest directory.
  wait_for([&] { return !list_dir(daemon_.root() + "/content/ingest").empty(); },
           std::chrono::seconds(10));
  kill_and_restart();
  expect_clean_after_restart();
  expect_load_succeeds();
}

TEST_F(CrashTest, KilledDuringUnpack) {
  const size_t total = big_image().archive.size();
  // Everything but the end: layers ingest and unpack, the archive stays open.
  std::thread sender;
  berth::unique_fd fd;
  bool sent = false;
  sender = std::thread([&] { fd = start_load(total - 1024, &sent); });
  bool seen = wait_for(
      [&] {
        for (const auto& n : list_dir(daemon_.root() + "/layers"))
          if (n.starts_with("tmp-")) return true;
        return false;
      },
      std::chrono::seconds(30));
  kill_and_restart();
  sender.join();
  if (!seen) std::cerr << "note: no unpack in progress was observed before the kill\n";
  expect_clean_after_restart();
  expect_load_succeeds();
}

TEST_F(CrashTest, KilledWithLayersCommittedButImageUnregistered) {
  const size_t total = big_image().archive.size();
  auto fd = start_load(total - 1024);
  // All three layers committed under their names; the image cannot be
  // registered before the archive ends.
  bool all = wait_for(
      [&] {
        size_t n = 0;
        for (const auto& d : big_image().diff_ids)
          n += path_exists(daemon_.root() + "/layers/" + d.substr(7));
        return n == big_image().diff_ids.size();
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(all) << "layers were not committed while the archive was open";
  auto list = http(daemon_.socket_path(), "GET", "/images/json");
  EXPECT_EQ(list.body.find("big:1"), std::string::npos) << "registered before the archive ended";
  kill_and_restart();
  expect_clean_after_restart();
  expect_load_succeeds();
}

// The client going away mid-upload is no crash: the load fails and leaves
// nothing behind, with the daemon still up.
TEST_F(CrashTest, ClientDisconnectsMidUpload) {
  {
    auto fd = start_load(15 << 20);
    wait_for([&] { return !list_dir(daemon_.root() + "/content/ingest").empty(); },
             std::chrono::seconds(10));
  }  // closed here
  bool clean = wait_for(
      [&] {
        return list_dir(daemon_.root() + "/content/ingest").empty() &&
               leftovers(daemon_.root()).empty() && blobs_of(daemon_.root()) == before_blobs_;
      },
      std::chrono::seconds(10));
  EXPECT_TRUE(clean) << "ingest: " << join(list_dir(daemon_.root() + "/content/ingest"), " ")
                     << " leftovers: " << join(leftovers(daemon_.root()), " ")
                     << " blobs: " << join(blobs_of(daemon_.root()), " ")
                     << " (before: " << join(before_blobs_, " ") << ")";
  auto ping = http(daemon_.socket_path(), "GET", "/_ping");
  EXPECT_EQ(ping.status, 200);
  expect_load_succeeds();
}

}  // namespace
}  // namespace berth::layers
