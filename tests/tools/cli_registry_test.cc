// The berth CLI's registry verbs against a berthd on a private root and a
// real registry (Debian's docker-registry, tests/testlib/registry.h):
// pull (by tag and digest; plain lines when stdout is not a terminal), push
// (the registry's digest, as skopeo reads it), login and logout (docker's
// config.json under $DOCKER_CONFIG, readable by the docker CLI, other keys
// kept), and the errors: unknown tag, wrong password, registry down.
// Needs root, docker-registry, skopeo, openssl, curl and htpasswd; skips
// otherwise.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <string>

#include "core/base/strings.h"
#include "tests/layers/layer_test_util.h"
#include "tests/testlib/registry.h"
#include "tests/testlib/testlib.h"

namespace berth {
namespace {

using layers::testing::ImageSpec;
using layers::testing::shell_quote;
using layers::testing::slurp;
using layers::testing::spit;
using testing::Daemon;
using testing::Registry;
using testing::run_command;
using testing::TempDir;

struct CliRun {
  int status = -1;
  std::string out, err;
};

bool matches(const std::string& s, const std::string& re) {
  return std::regex_search(s, std::regex(re, std::regex::icase));
}

const char* kUnauthorized = "unauthorized|authentication required|no basic auth credentials";

class CliRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("berth-cli-registry");
    std::string why;
    busybox_ = new ImageSpec(testing::busybox_image(dir_->path(), &why));
    if (busybox_->layers.empty()) {
      skip_reason_ = why;
      return;
    }
    layout_ = *dir_ / "oci";
    digest_ = testing::write_oci_image(layout_, "latest", *busybox_);
    id_ = layers::testing::image_id(*busybox_);
  }
  static void TearDownTestSuite() {
    delete busybox_;
    busybox_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    BERTH_REQUIRE_ROOT();
    auto missing = testing::registry_tools_missing(true, false);
    if (!missing.empty()) GTEST_SKIP() << missing;
  }
  void TearDown() override {
    if (daemon_.pid() > 0) {
      sh("BERTH rm -f $(BERTH ps -aq) >/dev/null 2>&1");
      EXPECT_EQ(daemon_.stop(), 0) << daemon_.log();
    }
  }

  ::testing::AssertionResult start(Registry::Options opts = {}) {
    reg_ = std::make_unique<Registry>(opts);
    auto r = reg_->start();
    if (!r) return r;
    auto p = reg_->push("oci:" + layout_ + ":latest", "busybox:latest");
    if (p.status != 0) return ::testing::AssertionFailure() << "skopeo push: " << p.output;
    return daemon_.start();
  }

  // A shell line in which "BERTH" stands for the berth binary talking to
  // the test daemon, with DOCKER_CONFIG in the work dir; stdout and stderr
  // apart.
  CliRun sh(const std::string& line) {
    std::string berth =
        str_cat("env BERTH_HOST=", daemon_.host_url(), " DOCKER_CONFIG=", config_dir(),
                " timeout -k 5 120 ", testing::build_dir(), "/berth");
    std::string cmd = line;
    for (size_t pos = 0; (pos = cmd.find("BERTH", pos)) != std::string::npos; pos += berth.size())
      cmd.replace(pos, 5, berth);
    std::string err_path = work_ / "stderr";
    // run_command appends 2>&1 to the whole line: the group keeps stderr
    // apart.
    auto r = run_command(str_cat("{ { ", cmd, "; } 2>", err_path, "; }"));
    return CliRun{r.status, r.output, slurp(err_path)};
  }
  CliRun cli(const std::string& args) { return sh("BERTH " + args + " </dev/null"); }
  CliRun cli_input(const std::string& args, const std::string& input) {
    return sh(str_cat("printf %s ", shell_quote(input), " | BERTH ", args));
  }
  std::string config_dir() const { return work_ / "dockercfg"; }
  std::string config() const { return slurp(config_dir() + "/config.json"); }

  // auths[host].auth of config.json, through python3's JSON reader ("" when
  // absent; "!" when the file is not JSON).
  std::string stored_auth(const std::string& host) {
    auto r = run_command(str_cat(
        "python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); "
        "print(c.get(\"auths\",{}).get(sys.argv[2],{}).get(\"auth\",\"\"))' ",
        shell_quote(config_dir() + "/config.json"), " ", shell_quote(host), " 2>/dev/null"));
    return r.status == 0 ? std::string(trim(r.output)) : "!";
  }

  static TempDir* dir_;
  static ImageSpec* busybox_;
  static std::string layout_, digest_, id_, skip_reason_;
  TempDir work_{"berth-cli-reg-work"};
  std::unique_ptr<Registry> reg_;
  Daemon daemon_;
};

TempDir* CliRegistryTest::dir_ = nullptr;
ImageSpec* CliRegistryTest::busybox_ = nullptr;
std::string CliRegistryTest::layout_, CliRegistryTest::digest_, CliRegistryTest::id_,
    CliRegistryTest::skip_reason_;

TEST_F(CliRegistryTest, PullRunTagPush) {
  ASSERT_TRUE(start());
  std::string ref = reg_->ref("busybox:latest");
  auto r = cli("pull " + ref);
  ASSERT_EQ(r.status, 0) << r.err << daemon_.log();
  // Not a terminal: plain lines, no cursor movement; docker's closing lines.
  EXPECT_FALSE(contains(r.out, "\x1b[")) << r.out;
  EXPECT_TRUE(contains(r.out, "Digest: " + digest_)) << r.out;
  EXPECT_TRUE(contains(r.out, "Status: Downloaded newer image for " + ref + "\n")) << r.out;
  EXPECT_TRUE(r.out.ends_with(ref + "\n")) << r.out;
  r = cli("image inspect --format '{{.Id}}' " + ref);
  EXPECT_EQ(r.out, id_ + "\n") << r.err;
  r = cli(str_cat("run --rm --network none ", ref, " echo pulled"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "pulled\n");

  r = cli("pull " + ref);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Status: Image is up to date for " + ref)) << r.out;

  std::string pushed = reg_->ref("pushed:v1");
  ASSERT_EQ(cli(str_cat("tag ", ref, " ", pushed)).status, 0);
  r = cli("push " + pushed);
  ASSERT_EQ(r.status, 0) << r.err << daemon_.log();
  EXPECT_FALSE(contains(r.out, "\x1b[")) << r.out;
  EXPECT_TRUE(contains(r.out, "The push refers to repository [" + reg_->ref("pushed") + "]"))
      << r.out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.out, m, std::regex("v1: digest: (sha256:[0-9a-f]{64}) size: [0-9]+\n")))
      << r.out;
  std::string err;
  EXPECT_EQ(reg_->manifest_digest("pushed:v1", &err), m[1]) << err;
}

TEST_F(CliRegistryTest, PullByDigest) {
  ASSERT_TRUE(start());
  std::string ref = reg_->ref("busybox@" + digest_);
  auto r = cli("pull " + ref);
  ASSERT_EQ(r.status, 0) << r.err;
  r = cli("image inspect --format '{{.Id}}' " + ref);
  EXPECT_EQ(r.out, id_ + "\n") << r.err;
}

TEST_F(CliRegistryTest, PullErrorsExitNonZeroWithTheReason) {
  ASSERT_TRUE(start());
  auto r = cli("pull " + reg_->ref("busybox:nosuch"));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "manifest unknown")) << r.err;
  r = cli("pull 'Not A Reference'");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(matches(r.err, "invalid reference format")) << r.err;
  reg_->stop();
  r = cli("pull " + reg_->ref("busybox:latest"));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(matches(r.err, "connection refused")) << r.err;
  r = cli("images -q");
  EXPECT_EQ(r.out, "");
}

TEST_F(CliRegistryTest, LoginWritesDockersConfigAndLogoutRemovesIt) {
  ASSERT_TRUE(start({.auth = Registry::Auth::htpasswd}));
  std::string ref = reg_->ref("busybox:latest");
  // Other settings in config.json stay.
  std::filesystem::create_directories(config_dir());
  spit(config_dir() + "/config.json", "{\"psFormat\":\"table {{.ID}}\"}");

  auto r = cli("pull " + ref);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(matches(r.err, kUnauthorized)) << r.err;

  r = cli_input(str_cat("login -u ", reg_->user(), " --password-stdin ", reg_->host()), "wrong");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(matches(r.err, kUnauthorized)) << r.err;
  EXPECT_EQ(stored_auth(reg_->host()), "");

  r = cli_input(str_cat("login -u ", reg_->user(), " --password-stdin ", reg_->host()),
                reg_->password());
  ASSERT_EQ(r.status, 0) << r.err << daemon_.log();
  EXPECT_TRUE(contains(r.out, "Login Succeeded")) << r.out;
  EXPECT_EQ(stored_auth(reg_->host()),
            berth::testing::base64(reg_->user() + ":" + reg_->password()))
      << config();
  EXPECT_TRUE(contains(config(), "\"psFormat\"")) << config();

  r = cli("pull " + ref);
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(cli(str_cat("tag ", ref, " ", reg_->ref("mine:v1"))).status, 0);
  r = cli("push " + reg_->ref("mine:v1"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(reg_->manifest_digest("mine:v1").empty());

  // The docker CLI reads what berth wrote.
  const char* docker = "/usr/local/bin/docker";
  if (::access(docker, X_OK) == 0) {
    auto d = run_command(str_cat("env -u DOCKER_CONTEXT DOCKER_HOST=", daemon_.host_url(),
                                 " DOCKER_CONFIG=", config_dir(), " timeout -k 5 120 ", docker,
                                 " pull ", reg_->ref("mine:v1")));
    EXPECT_EQ(d.status, 0) << d.output;
  }

  r = cli("logout " + reg_->host());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Removing login credentials for " + reg_->host())) << r.out;
  EXPECT_EQ(stored_auth(reg_->host()), "") << config();
  EXPECT_TRUE(contains(config(), "\"psFormat\"")) << config();
  r = cli("pull " + reg_->ref("busybox:latest"));
  // Present already: up to date needs the manifest, which needs credentials.
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(matches(r.err, kUnauthorized)) << r.err;
}

TEST_F(CliRegistryTest, LoginWithPasswordFlag) {
  ASSERT_TRUE(start({.auth = Registry::Auth::htpasswd}));
  auto r = cli(
      str_cat("login -u ", reg_->user(), " -p ", shell_quote(reg_->password()), " ", reg_->host()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Login Succeeded")) << r.out;
  EXPECT_TRUE(contains(r.err, "--password"))
      << "docker warns about -p on the command line: " << r.err;
  EXPECT_EQ(stored_auth(reg_->host()),
            berth::testing::base64(reg_->user() + ":" + reg_->password()));
  r = cli("pull " + reg_->ref("busybox:latest"));
  EXPECT_EQ(r.status, 0) << r.err;
}

}  // namespace
}  // namespace berth
