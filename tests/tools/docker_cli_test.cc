// The real docker CLI against berthd, unmodified: `docker version` and
// `docker info` must work. Skips when no docker CLI is installed.
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <string>

#include "core/base/strings.h"
#include "tests/testlib/testlib.h"

namespace berth {
namespace {

using testing::Daemon;
using testing::run_command;
using testing::TempDir;

std::string find_docker() {
  if (::access("/usr/local/bin/docker", X_OK) == 0) return "/usr/local/bin/docker";
  const char* path = std::getenv("PATH");
  for (auto dir : split(path ? path : "", ':')) {
    if (dir.empty()) continue;
    std::string candidate = str_cat(dir, "/docker");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

class DockerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    docker_ = find_docker();
    if (docker_.empty()) GTEST_SKIP() << "no docker CLI at /usr/local/bin/docker or on PATH";
    ASSERT_TRUE(daemon_.start());
  }
  void TearDown() override {
    if (docker_.empty()) return;
    EXPECT_EQ(daemon_.stop(), 0);
  }
  // Runs docker against berthd with a private, empty client config.
  testing::CommandResult docker(const std::string& args) {
    return run_command(str_cat("env -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH ",
                               "DOCKER_HOST=", daemon_.host_url(), " DOCKER_CONFIG=",
                               config_.path(), " timeout 60 ", docker_, " ", args));
  }

  std::string docker_;
  TempDir config_{"berth-docker-config"};
  Daemon daemon_;
};

TEST_F(DockerCliTest, VersionShowsTheServer) {
  auto r = docker("version");
  EXPECT_EQ(r.status, 0) << r.output;
  size_t server = r.output.find("\nServer:");
  ASSERT_NE(server, std::string::npos) << r.output;
  std::string server_part = r.output.substr(server);
  EXPECT_TRUE(std::regex_search(server_part, std::regex("API version:\\s+1\\.44"))) << r.output;
  EXPECT_EQ(r.output.find("rror"), std::string::npos) << r.output;
}

TEST_F(DockerCliTest, InfoWorks) {
  auto r = docker("info");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("ERROR"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("error during connect"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Server Version:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Docker Root Dir: " + daemon_.root()), std::string::npos) << r.output;
}

TEST_F(DockerCliTest, VersionFormatServerApiVersion) {
  auto r = docker("version --format '{{.Server.APIVersion}}'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(trim(r.output), "1.44") << r.output;
}

}  // namespace
}  // namespace berth
