// Pull and push through berthd against a real registry (Debian's
// docker-registry on 127.0.0.1, tests/testlib/registry.h), driven by the
// docker CLI (28) and by raw API requests, cross-checked with skopeo:
// pushed by skopeo → pulled by berthd (tag, digest, OCI and Docker schema2
// manifests, an index with a platform choice, several layers with
// whiteouts) → run; pushed by berthd → the registry's digest as berthd
// reports it, the same on a second push, copied back by skopeo and pulled
// again to the same image; basic auth (login, /auth, X-Registry-Auth), token
// auth, TLS with a CA from --registry-certs or without one; and failures:
// unknown tag, registry down, a corrupted blob, a connection cut mid-blob
// (resumed with Range) and a full disk — each a clear error that leaves
// nothing half-registered.
//
// The first suite (RegistryFixture) checks the fixture alone, without
// berthd. Needs root, the docker CLI, docker-registry, skopeo, openssl,
// curl (htpasswd and python3 for the auth flavours); skips otherwise.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "core/base/strings.h"
#include "tests/layers/layer_test_util.h"
#include "tests/testlib/registry.h"
#include "tests/testlib/testlib.h"

namespace berth::api {
namespace {

using namespace berth::layers::testing;
namespace archive = berth::layers::archive;
using berth::testing::CommandResult;
using berth::testing::CuttingProxy;
using berth::testing::Daemon;
using berth::testing::Platform;
using berth::testing::Registry;
using berth::testing::run_command;
using berth::testing::TempDir;

const char* kDocker = "/usr/local/bin/docker";

std::string trimmed(std::string_view s) {
  return std::string(trim(s));
}

bool matches(const std::string& s, const std::string& re) {
  return std::regex_search(s, std::regex(re, std::regex::icase));
}

// --- the test images, made once per process on first use ----------------------------

struct TestImage {
  ImageSpec spec;
  std::string layout;           // OCI layout dir, image under tag "latest"
  std::string manifest_digest;  // of the manifest (or index) in the layout
  std::string id;               // image ID: the config's digest
};

TempDir& image_dir() {
  static TempDir d("berth-reg-images");
  return d;
}

// Empty reason when the busybox base could be made.
const ImageSpec& busybox_spec(std::string* why) {
  static std::string reason;
  static ImageSpec spec = berth::testing::busybox_image(image_dir().path(), &reason);
  if (why) *why = reason;
  return spec;
}

ImageSpec with_layers(const std::vector<Members>& layers,
                      archive::Compression c = archive::Compression::gzip) {
  ImageSpec s = busybox_spec(nullptr);
  for (const auto& m : layers) s.layers.push_back(make_layer(make_tar(m), c));
  return s;
}

const TestImage& image(const std::string& name) {
  static std::map<std::string, TestImage> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  TestImage t;
  if (name == "busybox") {
    t.spec = busybox_spec(nullptr);
  } else if (name == "multi") {
    // Four layers: busybox; files; a big file, a whiteout and a
    // replacement (uncompressed, so that a corrupted byte is only a digest
    // mismatch); a file, a symlink and a new directory.
    Members l2 = {{dir_entry("data"), ""},
                  {file_entry("data/one.txt"), "one\n"},
                  {file_entry("data/gone.txt"), "bye\n"},
                  {file_entry("data/replaced.txt"), "old\n"}};
    Members l3 = {{file_entry("data/two.bin"), pseudo_random(200000, 3)},
                  {file_entry("data/.wh.gone.txt"), ""},
                  {file_entry("data/replaced.txt"), "new\n"}};
    Members l4 = {{file_entry("data/three.txt"), "three\n"},
                  {link_entry("data/link", "one.txt"), ""},
                  {dir_entry("opt"), ""},
                  {file_entry("opt/four"), "4\n"}};
    t.spec = with_layers({l2});
    t.spec.layers.push_back(make_layer(make_tar(l3), archive::Compression::none));
    t.spec.layers.push_back(make_layer(make_tar(l4)));
  } else if (name == "big") {
    // 3 MB that gzip cannot shrink: the blob the proxy cuts.
    t.spec = with_layers(
        {{{dir_entry("data"), ""}, {file_entry("data/random.bin"), pseudo_random(3 << 20, 11)}}});
  } else if (name == "huge") {
    // 12 MB, incompressible: more than the small tmpfs root takes.
    t.spec = with_layers(
        {{{dir_entry("data"), ""}, {file_entry("data/random.bin"), pseudo_random(12 << 20, 12)}}});
  } else if (name == "arm64") {
    t.spec = busybox_spec(nullptr);
    t.spec.labels["arch"] = "arm64";
  } else if (name == "other") {
    t.spec = with_layers({{{file_entry("other.txt"), "other\n"}}});
  }
  t.layout = image_dir() / ("oci-" + name);
  if (name == "multiarch") {
    t.spec = busybox_spec(nullptr);
    t.manifest_digest = berth::testing::write_oci_index(
        t.layout, "latest",
        {{Platform{}, t.spec}, {Platform{"linux", "arm64", "v8"}, image("arm64").spec}});
  } else {
    Platform p;
    if (name == "arm64") p = {"linux", "arm64", "v8"};
    t.manifest_digest = berth::testing::write_oci_image(t.layout, "latest", t.spec, p);
    t.id = berth::testing::sha256_digest(berth::testing::oci_config(t.spec, p));
  }
  if (t.id.empty()) t.id = image_id(t.spec);
  return cache.emplace(name, std::move(t)).first->second;
}

// --- the fixture alone ---------------------------------------------------------------

class RegistryFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto missing = berth::testing::registry_tools_missing(true, true);
    if (!missing.empty()) GTEST_SKIP() << missing;
    std::string why;
    busybox_spec(&why);
    if (!why.empty()) GTEST_SKIP() << why;
  }
  // Pushes the busybox layout and checks what the registry then serves.
  void push_and_inspect(Registry& reg) {
    const auto& img = image("busybox");
    auto r = reg.push("oci:" + img.layout + ":latest", "busybox:latest");
    ASSERT_EQ(r.status, 0) << r.output << reg.log();
    std::string err;
    EXPECT_EQ(reg.manifest_digest("busybox:latest", &err), img.manifest_digest) << err;
    EXPECT_EQ(reg.manifest_digest("busybox@" + img.manifest_digest, &err), img.manifest_digest)
        << err;
    const auto& layer = img.spec.layers[0];
    EXPECT_EQ(slurp(reg.blob_path(layer.digest)), layer.blob);
  }
  std::string curl(const std::string& args) {
    return run_command("curl -s --max-time 10 -o /dev/null -w '%{http_code}' " + args).output;
  }
};

TEST_F(RegistryFixture, PlainTakesAPushAndServesTheDigest) {
  Registry reg;
  ASSERT_TRUE(reg.start());
  EXPECT_EQ(curl(reg.url() + "/v2/"), "200");
  push_and_inspect(reg);
  EXPECT_EQ(reg.manifest_digest("busybox:nosuch"), "");
}

TEST_F(RegistryFixture, HtpasswdRefusesAnonymousRequests) {
  Registry reg({.auth = Registry::Auth::htpasswd});
  ASSERT_TRUE(reg.start());
  EXPECT_EQ(curl(reg.url() + "/v2/"), "401");
  EXPECT_EQ(curl(str_cat("-u ", reg.user(), ":", reg.password(), " ", reg.url(), "/v2/")), "200");
  EXPECT_EQ(curl(str_cat("-u ", reg.user(), ":wrong ", reg.url(), "/v2/")), "401");
  push_and_inspect(reg);
  auto r = reg.skopeo(str_cat("inspect --raw --tls-verify=false docker://", reg.ref("busybox")));
  EXPECT_NE(r.status, 0) << r.output;
}

TEST_F(RegistryFixture, TlsServesACertificateOfItsCa) {
  Registry reg({.tls = true});
  ASSERT_TRUE(reg.start());
  EXPECT_EQ(reg.url(), "https://" + reg.host());
  EXPECT_EQ(curl(str_cat("--cacert ", reg.ca_path(), " ", reg.url(), "/v2/")), "200");
  EXPECT_EQ(curl(str_cat("--cacert ", reg.ca_path(), " https://localhost:", reg.port(), "/v2/")),
            "200");
  // Without the CA the certificate is not trusted (curl: exit 60, code 000).
  EXPECT_EQ(curl(reg.url() + "/v2/"), "000");
  std::string certs = reg.certs_d();
  EXPECT_EQ(slurp(certs + "/" + reg.host() + "/ca.crt"), slurp(reg.ca_path()));
  push_and_inspect(reg);
}

TEST_F(RegistryFixture, TokenAuthIssuesTokensForCredentials) {
  Registry reg({.auth = Registry::Auth::token});
  ASSERT_TRUE(reg.start());
  auto head = run_command(str_cat("curl -s -i --max-time 10 ", reg.url(), "/v2/")).output;
  EXPECT_TRUE(matches(head, "www-authenticate: bearer realm=\"http://127.0.0.1:[0-9]+/token\""))
      << head;
  push_and_inspect(reg);
  // Anonymous tokens grant nothing.
  auto r = reg.skopeo(str_cat("inspect --raw --tls-verify=false docker://", reg.ref("busybox")));
  EXPECT_NE(r.status, 0) << r.output;
  r = reg.skopeo(str_cat("inspect --raw --tls-verify=false --creds ", reg.user(),
                         ":wrong docker://", reg.ref("busybox")));
  EXPECT_NE(r.status, 0) << r.output;
}

TEST_F(RegistryFixture, StoppedRegistryRefusesAndRestartsOnTheSamePort) {
  Registry reg;
  ASSERT_TRUE(reg.start());
  push_and_inspect(reg);
  int port = reg.port();
  reg.stop();
  EXPECT_FALSE(reg.running());
  EXPECT_EQ(curl(reg.url() + "/v2/"), "000");
  ASSERT_TRUE(reg.start());
  EXPECT_EQ(reg.port(), port);
  EXPECT_EQ(reg.manifest_digest("busybox:latest"), image("busybox").manifest_digest);
}

TEST_F(RegistryFixture, IndexPushesWithEveryPlatform) {
  Registry reg;
  ASSERT_TRUE(reg.start());
  const auto& img = image("multiarch");
  auto r = reg.push("oci:" + img.layout + ":latest", "multiarch:latest", "--all");
  ASSERT_EQ(r.status, 0) << r.output;
  std::string raw = reg.raw_manifest("multiarch:latest");
  EXPECT_EQ(berth::testing::sha256_digest(raw), img.manifest_digest);
  EXPECT_TRUE(contains(raw, "\"architecture\":\"arm64\"")) << raw;
}

TEST_F(RegistryFixture, ProxyCutsTheFirstMatchingDownloadOnly) {
  Registry reg;
  ASSERT_TRUE(reg.start());
  const auto& img = image("big");
  ASSERT_EQ(reg.push("oci:" + img.layout + ":latest", "big:latest").status, 0);
  const auto& layer = img.spec.layers.back();
  CuttingProxy proxy(reg.port(), "/blobs/" + layer.digest, 100000);
  TempDir t("berth-proxy");
  std::string url = str_cat("http://", proxy.host(), "/v2/big/blobs/", layer.digest);
  // The first download ends early (curl: 18, partial file).
  auto r = run_command(str_cat("curl -sS --max-time 20 -o ", t / "one", " ", url));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(proxy.did_cut());
  auto part = slurp(t / "one");
  EXPECT_LT(part.size(), layer.blob.size());
  EXPECT_EQ(part, layer.blob.substr(0, part.size()));
  // The rest, with Range, and then the whole again, pass.
  r = run_command(str_cat("curl -sS --max-time 20 -o ", t / "rest",
                          " -H 'Range: bytes=", part.size(), "-' ", url));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(part + slurp(t / "rest"), layer.blob);
  r = run_command(str_cat("curl -sS --max-time 20 -o ", t / "two", " ", url));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(slurp(t / "two"), layer.blob);
  auto reqs = proxy.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_TRUE(matches(reqs[1], "\r\nrange: bytes=")) << reqs[1];
}

// --- berthd against the registry -----------------------------------------------------

class RegistryApi : public ::testing::Test {
 protected:
  void SetUp() override {
    BERTH_REQUIRE_ROOT();
    if (::access(kDocker, X_OK) != 0) GTEST_SKIP() << "no docker CLI at " << kDocker;
    auto missing = berth::testing::registry_tools_missing(true, true);
    if (!missing.empty()) GTEST_SKIP() << missing;
    std::string why;
    busybox_spec(&why);
    if (!why.empty()) GTEST_SKIP() << why;
  }
  void TearDown() override {
    if (daemon_ && daemon_->pid() > 0) {
      docker("rm -f $(" + docker_cmd("ps -aq") + ") >/dev/null 2>&1");
      daemon_->stop(std::chrono::seconds(20));
    }
  }

  ::testing::AssertionResult start_registry(Registry::Options opts = {}) {
    reg_ = std::make_unique<Registry>(opts);
    return reg_->start();
  }
  ::testing::AssertionResult start_daemon(std::vector<std::string> args = {},
                                          const std::string& tmpfs_size = "") {
    daemon_.emplace(Daemon::Options{.extra_args = std::move(args)});
    if (!tmpfs_size.empty()) {
      std::filesystem::create_directories(daemon_->root());
      if (::mount("berth-test-full", daemon_->root().c_str(), "tmpfs", 0,
                  ("size=" + tmpfs_size).c_str()) != 0)
        return ::testing::AssertionFailure() << "mount tmpfs: " << std::strerror(errno);
    }
    return daemon_->start();
  }
  // Pushes a test image into the registry with skopeo.
  // As the layout has it (skopeo would gzip the uncompressed layer of
  // "multi"), unless the manifest's format is to change.
  void seed(const std::string& name, const std::string& as = "", std::string extra = "") {
    const auto& img = image(name);
    if (!contains(extra, "--format")) extra += " --preserve-digests";
    auto r = reg_->push("oci:" + img.layout + ":latest", as.empty() ? name + ":latest" : as, extra);
    ASSERT_EQ(r.status, 0) << "skopeo push of " << name << ": " << r.output << reg_->log();
  }

  std::string docker_cmd(const std::string& args) {
    return str_cat("env -u DOCKER_CONTEXT DOCKER_HOST=", daemon_->host_url(),
                   " DOCKER_CONFIG=", t_ / "dockercfg", " timeout -k 5 120 ", kDocker, " ", args);
  }
  CommandResult docker(const std::string& args, const std::string& input = "") {
    std::string cmd = docker_cmd(args);
    if (!input.empty()) cmd = str_cat("printf %s ", shell_quote(input), " | ", cmd);
    return run_command(cmd + " 2>&1");
  }
  std::string ok(const std::string& args) {
    auto r = docker(args);
    EXPECT_EQ(r.status, 0) << "docker " << args << "\n" << r.output << "\nberthd: " << log_tail();
    return r.output;
  }
  // The tail of the daemon's log, for failure messages.
  std::string log_tail() {
    std::string log = daemon_->log();
    return log.size() > 4000 ? "..." + log.substr(log.size() - 4000) : log;
  }
  // docker pull ARGS / docker push REF; a failure carries docker's output
  // and the daemon's log.
  ::testing::AssertionResult pull(const std::string& args, std::string* out = nullptr) {
    return transfer("pull " + args, out);
  }
  ::testing::AssertionResult push(const std::string& ref, std::string* out = nullptr) {
    return transfer("push " + ref, out);
  }
  ::testing::AssertionResult transfer(const std::string& args, std::string* out) {
    auto r = docker(args);
    if (out) *out = r.output;
    if (r.status == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "docker " << args << " exited " << r.status << ":\n"
                                         << r.output << "berthd's log:\n"
                                         << log_tail();
  }
  std::string image_field(const std::string& ref, const std::string& format) {
    return trimmed(ok(str_cat("image inspect --format ", shell_quote(format), " ", ref)));
  }
  std::string image_ids() {
    auto r = docker("images -q --no-trunc");
    auto lines = split(r.output, '\n');
    std::vector<std::string> ids(lines.begin(), lines.end());
    std::sort(ids.begin(), ids.end());
    return join(ids, " ");
  }
  // Half-done downloads or unpacks in the daemon's root.
  std::string leftovers() {
    std::string out;
    for (const auto& e : list_dir(daemon_->root() + "/content/ingest"))
      str_append(out, "content/ingest/", e, " ");
    for (const auto& e : list_dir(daemon_->root() + "/layers"))
      if (e.starts_with("tmp-")) str_append(out, "layers/", e, " ");
    return out;
  }
  // `docker run --rm --network none IMAGE sh -c SCRIPT`, output checked.
  void expect_run(const std::string& ref, const std::string& script, const std::string& want) {
    auto r = docker(str_cat("run --rm --network none ", ref, " sh -c ", shell_quote(script)));
    EXPECT_EQ(r.status, 0) << r.output << log_tail();
    EXPECT_EQ(r.output, want);
  }

  // Raw API through curl, with extra headers and a JSON body.
  HttpResult api(const std::string& method, const std::string& path,
                 const std::vector<std::string>& headers = {}, const std::string& body = "") {
    std::string cmd = str_cat("curl -sS --max-time 120 --unix-socket ", daemon_->socket_path(),
                              " -X ", method, " -w '\\n%{http_code}' ");
    for (const auto& h : headers) str_append(cmd, "-H ", shell_quote(h), " ");
    if (!body.empty()) {
      std::string f = t_ / "body.json";
      spit(f, body);
      str_append(cmd, "-H 'Content-Type: application/json' --data-binary @", f, " ");
    }
    cmd += shell_quote("http://localhost" + path);
    auto r = run_command(cmd);
    HttpResult out;
    size_t nl = r.output.rfind('\n');
    if (nl == std::string::npos) return {0, r.output};
    out.status = std::atoi(r.output.c_str() + nl + 1);
    out.body = r.output.substr(0, nl);
    return out;
  }
  std::string registry_auth(const std::string& user, const std::string& password) {
    return "X-Registry-Auth: " +
           berth::testing::base64(
               str_cat("{\"username\":", json_string(user), ",\"password\":", json_string(password),
                       ",\"serveraddress\":", json_string(reg_->host()), "}"),
               true);
  }
  void login() {
    auto r = docker(str_cat("login -u ", reg_->user(), " --password-stdin ", reg_->host()),
                    reg_->password());
    ASSERT_EQ(r.status, 0) << r.output << log_tail();
    EXPECT_TRUE(contains(r.output, "Login Succeeded")) << r.output;
  }

  TempDir t_{"berth-reg-api"};
  std::unique_ptr<Registry> reg_;
  std::optional<Daemon> daemon_;
};

const char* kUnauthorized = "unauthorized|authentication required|no basic auth credentials";

// docker's line for a push: "TAG: digest: sha256:... size: N".
std::string pushed_digest(const std::string& out) {
  std::smatch m;
  if (std::regex_search(out, m, std::regex("digest: (sha256:[0-9a-f]{64}) size: [0-9]+")))
    return m[1];
  return "";
}

TEST_F(RegistryApi, PullThenRunPrints) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("busybox:latest");
  std::string out;
  ASSERT_TRUE(pull(ref, &out));
  EXPECT_TRUE(contains(out, "Status: Downloaded newer image for " + ref)) << out;
  EXPECT_TRUE(contains(out, "Digest: " + image("busybox").manifest_digest)) << out;
  EXPECT_EQ(image_field(ref, "{{.Id}}"), image("busybox").id);
  EXPECT_EQ(image_field(ref, "{{.Os}}/{{.Architecture}}"), "linux/amd64");
  expect_run(ref, "echo pulled-and-ran", "pulled-and-ran\n");
  EXPECT_EQ(leftovers(), "");
}

TEST_F(RegistryApi, RmiOfAPulledImageDeletesItAndItsLayers) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("busybox:latest");
  ASSERT_TRUE(pull(ref));
  // The tag and the repository's digest reference both go, then the image
  // and its layer, as docker's rmi does.
  auto r = docker("rmi " + ref);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "Untagged: " + ref)) << r.output;
  EXPECT_TRUE(contains(r.output, "@" + image("busybox").manifest_digest)) << r.output;
  EXPECT_TRUE(contains(r.output, "Deleted: " + image("busybox").id)) << r.output;
  EXPECT_EQ(image_ids(), "");
  auto layer_dirs = list_dir(daemon_->root() + "/layers");
  std::string diff_hex = image("busybox").spec.layers[0].diff_id.substr(7);
  EXPECT_EQ(std::count(layer_dirs.begin(), layer_dirs.end(), diff_hex), 0);
  // So the next pull fetches the layer again.
  std::string out;
  ASSERT_TRUE(pull(ref, &out));
  EXPECT_TRUE(contains(out, "Pull complete")) << out;
  EXPECT_FALSE(contains(out, "Already exists")) << out;
}

TEST_F(RegistryApi, PullByDigest) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("busybox@" + image("busybox").manifest_digest);
  std::string out;
  ASSERT_TRUE(pull(ref, &out));
  EXPECT_TRUE(contains(out, "Digest: " + image("busybox").manifest_digest)) << out;
  EXPECT_EQ(image_field(ref, "{{.Id}}"), image("busybox").id);
  EXPECT_TRUE(contains(image_field(ref, "{{range .RepoDigests}}{{.}} {{end}}"), ref));
  expect_run(ref, "echo by-digest", "by-digest\n");
  // A digest the registry does not have.
  auto r = docker("pull " + reg_->ref("busybox@sha256:" + std::string(64, 'e')));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(matches(r.output, "manifest unknown|not found")) << r.output;
}

TEST_F(RegistryApi, PullAgainIsUpToDateAndSharedLayersAlreadyExist) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  seed("multi");
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(pull(reg_->ref("busybox:latest")));
  std::string out;
  ASSERT_TRUE(pull(reg_->ref("busybox:latest"), &out));
  EXPECT_TRUE(contains(out, "Status: Image is up to date for " + reg_->ref("busybox:latest")))
      << out;
  // multi shares busybox's layer.
  ASSERT_TRUE(pull(reg_->ref("multi:latest"), &out));
  std::string short_layer = image("busybox").spec.layers[0].digest.substr(7, 12);
  EXPECT_TRUE(contains(out, short_layer + ": Already exists")) << out;
  EXPECT_TRUE(contains(out, "Status: Downloaded newer image for " + reg_->ref("multi:latest")))
      << out;
}

TEST_F(RegistryApi, PullsOciAndDockerSchema2Manifests) {
  ASSERT_TRUE(start_registry());
  seed("busybox", "oci:v1");
  seed("busybox", "v2s2:v1", "--format v2s2");
  std::string raw = reg_->raw_manifest("v2s2:v1");
  ASSERT_TRUE(contains(raw, "application/vnd.docker.distribution.manifest.v2+json")) << raw;
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(pull(reg_->ref("oci:v1")));
  ASSERT_TRUE(pull(reg_->ref("v2s2:v1")));
  EXPECT_EQ(image_field(reg_->ref("oci:v1"), "{{.Id}}"), image("busybox").id);
  EXPECT_EQ(image_field(reg_->ref("v2s2:v1"), "{{.Id}}"), image("busybox").id);
  expect_run(reg_->ref("v2s2:v1"), "echo schema2", "schema2\n");
}

TEST_F(RegistryApi, IndexSelectsThePlatform) {
  ASSERT_TRUE(start_registry());
  seed("multiarch", "", "--all");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("multiarch:latest");
  std::string out;
  ASSERT_TRUE(pull(ref, &out));
  EXPECT_TRUE(contains(out, "Digest: " + image("multiarch").manifest_digest)) << out;
  EXPECT_EQ(image_field(ref, "{{.Id}}"), image("busybox").id);
  ASSERT_TRUE(pull("--platform linux/arm64 " + ref));
  EXPECT_EQ(image_field(ref, "{{.Architecture}}"), "arm64");
  EXPECT_EQ(image_field(ref, "{{.Id}}"), image("arm64").id);
  auto r = docker("pull --platform linux/s390x " + ref);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(matches(r.output, "no match(ing)? manifest for|platform")) << r.output;
}

TEST_F(RegistryApi, LayersOfEveryLevelArrive) {
  ASSERT_TRUE(start_registry());
  seed("multi");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("multi:latest");
  ASSERT_TRUE(pull(ref));
  EXPECT_EQ(image_field(ref, "{{.Id}}"), image("multi").id);
  EXPECT_EQ(image_field(ref, "{{len .RootFS.Layers}}"), "4");
  std::string two = archive::sha256(pseudo_random(200000, 3)).hex();
  expect_run(ref,
             "cat /data/one.txt /data/replaced.txt /data/three.txt /opt/four; readlink /data/link; "
             "test -e /data/gone.txt && echo gone-is-there; sha256sum /data/two.bin | cut -c1-64",
             str_cat("one\nnew\nthree\n4\none.txt\n", two, "\n"));
}

TEST_F(RegistryApi, PushGivesTheRegistrysDigestTwice) {
  ASSERT_TRUE(start_registry());
  ASSERT_TRUE(start_daemon());
  ok(str_cat("import ", shell_quote(image_dir() / "busybox-rootfs.tar"), " berth/busybox"));
  std::string ref = reg_->ref("pushed:v1");
  ok("tag berth/busybox " + ref);
  std::string out;
  ASSERT_TRUE(push(ref, &out));
  EXPECT_TRUE(contains(out, "The push refers to repository [" + reg_->ref("pushed") + "]")) << out;
  std::string digest = pushed_digest(out);
  ASSERT_FALSE(digest.empty()) << out;
  std::string err;
  EXPECT_EQ(reg_->manifest_digest("pushed:v1", &err), digest) << err;
  // Again: nothing to upload, the same manifest.
  ASSERT_TRUE(push(ref, &out));
  EXPECT_TRUE(contains(out, "Layer already exists")) << out;
  EXPECT_EQ(pushed_digest(out), digest) << out;
  EXPECT_EQ(reg_->manifest_digest("pushed:v1"), digest);
  // The pushed image carries the local image's config: the same ID.
  std::string raw = reg_->raw_manifest("pushed:v1");
  EXPECT_TRUE(contains(raw, image_field("berth/busybox", "{{.Id}}"))) << raw;
}

TEST_F(RegistryApi, PushedImageCopiesBackToTheSameImage) {
  ASSERT_TRUE(start_registry());
  ASSERT_TRUE(start_daemon());
  ok(str_cat("import ", shell_quote(image_dir() / "busybox-rootfs.tar"), " berth/busybox"));
  std::string id = image_field("berth/busybox", "{{.Id}}");
  ok("tag berth/busybox " + reg_->ref("pushed:v1"));
  std::string out;
  ASSERT_TRUE(push(reg_->ref("pushed:v1"), &out));
  std::string digest = pushed_digest(out);
  ASSERT_FALSE(digest.empty());
  // skopeo copies it within the registry and out to an OCI layout.
  auto r = reg_->skopeo(str_cat("copy --quiet --preserve-digests ", reg_->src_flags(), " ",
                                reg_->dest_flags(), " docker://", reg_->ref("pushed:v1"),
                                " docker://", reg_->ref("copied:v1")));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(reg_->manifest_digest("copied:v1"), digest);
  r = reg_->skopeo(str_cat("copy --quiet ", reg_->src_flags(), " docker://", reg_->ref("pushed:v1"),
                           " oci:", t_ / "out", ":v1"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(slurp(t_ / "out/index.json"), "sha256:")) << slurp(t_ / "out/index.json");
  // Pulled back into an empty daemon it is the same image, and runs.
  ok("rmi berth/busybox " + reg_->ref("pushed:v1"));
  ASSERT_TRUE(pull(reg_->ref("copied:v1")));
  EXPECT_EQ(image_field(reg_->ref("copied:v1"), "{{.Id}}"), id);
  expect_run(reg_->ref("copied:v1"), "echo round-trip", "round-trip\n");
}

TEST_F(RegistryApi, PushOfAPulledImageToAnotherRepository) {
  ASSERT_TRUE(start_registry());
  seed("multi");
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(pull(reg_->ref("multi:latest")));
  ok(str_cat("tag ", reg_->ref("multi:latest"), " ", reg_->ref("elsewhere/multi:v2")));
  std::string out;
  ASSERT_TRUE(push(reg_->ref("elsewhere/multi:v2"), &out));
  // Its gzip layers are linked from the repository the image came from, not
  // sent again (the plain one is compressed now: a new blob, pushed).
  EXPECT_TRUE(contains(out, "Mounted from multi")) << out;
  std::string digest = pushed_digest(out);
  ASSERT_FALSE(digest.empty()) << out;
  EXPECT_EQ(reg_->manifest_digest("elsewhere/multi:v2"), digest);
  // Copied by skopeo and pulled under a third name: the same image.
  auto r = reg_->skopeo(str_cat("copy --quiet ", reg_->src_flags(), " ", reg_->dest_flags(),
                                " docker://", reg_->ref("elsewhere/multi:v2"), " docker://",
                                reg_->ref("third:v3")));
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(pull(reg_->ref("third:v3")));
  EXPECT_EQ(image_field(reg_->ref("third:v3"), "{{.Id}}"), image("multi").id);
}

TEST_F(RegistryApi, RawPushStreamEndsWithTheAux) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(pull(reg_->ref("busybox:latest")));
  ok(str_cat("tag ", reg_->ref("busybox:latest"), " ", reg_->ref("raw:v1")));
  auto r = api("POST", str_cat("/v1.44/images/", reg_->ref("raw"), "/push?tag=v1"),
               {"X-Registry-Auth: " + berth::testing::base64("{}", true)});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(contains(r.body, "errorDetail")) << r.body;
  std::string last;
  for (auto l : split(r.body, '\n'))
    if (!trim(l).empty()) last = trimmed(l);
  std::smatch m;
  // docker's last line: {"progressDetail":{},"aux":{"Tag":..,"Digest":..,"Size":..}}.
  ASSERT_TRUE(std::regex_search(
      last, m,
      std::regex(
          "^\\{.*\"aux\":\\{\"Tag\":\"v1\",\"Digest\":\"(sha256:[0-9a-f]{64})\",\"Size\":([0-9]+)"
          "\\}\\}$")))
      << r.body;
  std::string raw = reg_->raw_manifest("raw:v1");
  EXPECT_EQ(m[1], berth::testing::sha256_digest(raw));
  EXPECT_EQ(std::stoul(m[2]), raw.size());
}

TEST_F(RegistryApi, RawPullErrorsAreDockerShaped) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  auto r =
      api("POST", str_cat("/v1.44/images/create?fromImage=", reg_->ref("busybox"), "&tag=nosuch"));
  // Before the stream: a status and {"message"}; once streaming: an
  // errorDetail line. Either way docker's words.
  if (r.status == 200) {
    EXPECT_TRUE(matches(r.body, "\\{\"errorDetail\":\\{\"message\":\"[^\"]*manifest unknown"))
        << r.body;
    EXPECT_TRUE(contains(r.body, "\"error\":")) << r.body;
  } else {
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_TRUE(matches(r.body, "^\\{\"message\":\"[^\"]*manifest unknown")) << r.body;
  }
  // A good pull streams progress and ends with the status line.
  r = api("POST", str_cat("/v1.44/images/create?fromImage=", reg_->ref("busybox"), "&tag=latest"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(contains(r.body, "{\"status\":\"Pulling from busybox\",\"id\":\"latest\"}"))
      << r.body;
  EXPECT_TRUE(contains(r.body, "\"status\":\"Status: Downloaded newer image for " +
                                   reg_->ref("busybox:latest") + "\""))
      << r.body;
  EXPECT_FALSE(contains(r.body, "errorDetail")) << r.body;
}

TEST_F(RegistryApi, DistributionInspectDescribesTheManifest) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  seed("multiarch", "", "--all");
  ASSERT_TRUE(start_daemon());
  auto r = api("GET", str_cat("/v1.44/distribution/", reg_->ref("busybox:latest"), "/json"),
               {"X-Registry-Auth: " + berth::testing::base64("{}", true)});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string raw = reg_->raw_manifest("busybox:latest");
  EXPECT_TRUE(contains(r.body, "\"Descriptor\":{")) << r.body;
  EXPECT_TRUE(contains(r.body, "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\""))
      << r.body;
  EXPECT_TRUE(contains(r.body, "\"digest\":\"" + image("busybox").manifest_digest + "\""))
      << r.body;
  EXPECT_TRUE(contains(r.body, str_cat("\"size\":", raw.size()))) << r.body;
  EXPECT_TRUE(matches(r.body, "\"Platforms\":\\[\\{\"architecture\":\"amd64\",\"os\":\"linux\""))
      << r.body;
  r = api("GET", str_cat("/v1.44/distribution/", reg_->ref("multiarch:latest"), "/json"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(contains(r.body, "\"digest\":\"" + image("multiarch").manifest_digest + "\""))
      << r.body;
  EXPECT_TRUE(contains(r.body, "application/vnd.oci.image.index.v1+json")) << r.body;
  EXPECT_TRUE(contains(r.body, "\"architecture\":\"arm64\"")) << r.body;
  EXPECT_TRUE(contains(r.body, "\"architecture\":\"amd64\"")) << r.body;
  r = api("GET", str_cat("/v1.44/distribution/", reg_->ref("busybox:nosuch"), "/json"));
  EXPECT_NE(r.status, 200) << r.body;
  EXPECT_TRUE(matches(r.body, "^\\{\"message\":\".*(manifest unknown|not found)")) << r.body;
}

TEST_F(RegistryApi, BasicAuthNeedsLogin) {
  ASSERT_TRUE(start_registry({.auth = Registry::Auth::htpasswd}));
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("busybox:latest");
  auto r = docker("pull " + ref);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(matches(r.output, kUnauthorized)) << r.output;
  EXPECT_EQ(image_ids(), "");
  // A wrong password: docker login fails, nothing stored.
  r = docker(str_cat("login -u ", reg_->user(), " --password-stdin ", reg_->host()), "wrong");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(matches(r.output, kUnauthorized)) << r.output;
  EXPECT_FALSE(contains(slurp(t_ / "dockercfg/config.json"), reg_->host()));
  login();
  auto cfg = slurp(t_ / "dockercfg/config.json");
  EXPECT_TRUE(contains(cfg, berth::testing::base64(reg_->user() + ":" + reg_->password()))) << cfg;
  ASSERT_TRUE(pull(ref));
  expect_run(ref, "echo authed", "authed\n");
  ok(str_cat("tag ", ref, " ", reg_->ref("mine:v1")));
  std::string out;
  ASSERT_TRUE(push(reg_->ref("mine:v1"), &out));
  std::string digest = pushed_digest(out);
  EXPECT_EQ(reg_->manifest_digest("mine:v1"), digest);
  // After logout the CLI sends no credentials: refused again.
  ok("logout " + reg_->host());
  seed("multi");
  r = docker("pull " + reg_->ref("multi:latest"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(matches(r.output, kUnauthorized)) << r.output;
}

TEST_F(RegistryApi, AuthEndpointChecksTheCredentials) {
  ASSERT_TRUE(start_registry({.auth = Registry::Auth::htpasswd}));
  ASSERT_TRUE(start_daemon());
  auto body = [&](const std::string& password) {
    return str_cat("{\"username\":", json_string(reg_->user()),
                   ",\"password\":", json_string(password),
                   ",\"serveraddress\":", json_string(reg_->host()), "}");
  };
  auto r = api("POST", "/v1.44/auth", {}, body(reg_->password()));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(matches(r.body, "\"Status\":\"Login Succeeded\"")) << r.body;
  r = api("POST", "/v1.44/auth", {}, body("wrong"));
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_TRUE(matches(r.body, "^\\{\"message\":\".*(unauthorized|authentication)")) << r.body;
}

TEST_F(RegistryApi, XRegistryAuthHeaderCarriesTheCredentials) {
  ASSERT_TRUE(start_registry({.auth = Registry::Auth::htpasswd}));
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  std::string path =
      str_cat("/v1.44/images/create?fromImage=", reg_->ref("busybox"), "&tag=latest");
  auto r = api("POST", path);
  EXPECT_TRUE(r.status != 200 || contains(r.body, "errorDetail")) << r.body;
  EXPECT_TRUE(matches(r.body, kUnauthorized)) << r.body;
  r = api("POST", path, {registry_auth(reg_->user(), "wrong")});
  EXPECT_TRUE(r.status != 200 || contains(r.body, "errorDetail")) << r.body;
  r = api("POST", path, {registry_auth(reg_->user(), reg_->password())});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(contains(r.body, "errorDetail")) << r.body;
  EXPECT_EQ(image_field(reg_->ref("busybox:latest"), "{{.Id}}"), image("busybox").id);
}

TEST_F(RegistryApi, TokenAuthThroughLogin) {
  ASSERT_TRUE(start_registry({.auth = Registry::Auth::token}));
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("busybox:latest");
  auto r = docker("pull " + ref);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(matches(r.output, "unauthorized|denied|authentication required")) << r.output;
  login();
  ASSERT_TRUE(pull(ref));
  EXPECT_EQ(image_field(ref, "{{.Id}}"), image("busybox").id);
  ok(str_cat("tag ", ref, " ", reg_->ref("tokened:v1")));
  std::string out;
  ASSERT_TRUE(push(reg_->ref("tokened:v1"), &out));
  std::string digest = pushed_digest(out);
  ASSERT_FALSE(digest.empty());
  EXPECT_EQ(reg_->manifest_digest("tokened:v1"), digest);
}

TEST_F(RegistryApi, TlsVerifiedWithTheCaFromRegistryCerts) {
  ASSERT_TRUE(start_registry({.tls = true}));
  seed("busybox");
  ASSERT_TRUE(start_daemon({"--registry-certs", reg_->certs_d(), "--registry-strict-loopback"}));
  std::string ref = reg_->ref("busybox:latest");
  ASSERT_TRUE(pull(ref));
  expect_run(ref, "echo over-tls", "over-tls\n");
  ok(str_cat("tag ", ref, " ", reg_->ref("tls-pushed:v1")));
  std::string out;
  ASSERT_TRUE(push(reg_->ref("tls-pushed:v1"), &out));
  std::string digest = pushed_digest(out);
  EXPECT_EQ(reg_->manifest_digest("tls-pushed:v1"), digest);
}

TEST_F(RegistryApi, TlsWithoutTheCaIsACertificateError) {
  ASSERT_TRUE(start_registry({.tls = true}));
  seed("busybox");
  ASSERT_TRUE(start_daemon({"--registry-strict-loopback"}));
  auto r = docker("pull " + reg_->ref("busybox:latest"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "timed out: " << r.output;
  EXPECT_TRUE(matches(r.output, "certificate|x509")) << r.output;
  EXPECT_EQ(image_ids(), "");
}

TEST_F(RegistryApi, InsecureRegistryFlagSkipsVerification) {
  ASSERT_TRUE(start_registry({.tls = true}));
  seed("busybox");
  ASSERT_TRUE(start_daemon({"--registry-strict-loopback", "--insecure-registry", reg_->host()}));
  ASSERT_TRUE(pull(reg_->ref("busybox:latest")));
  EXPECT_EQ(image_field(reg_->ref("busybox:latest"), "{{.Id}}"), image("busybox").id);
}

TEST_F(RegistryApi, LoopbackIsInsecureByDefault) {
  // TLS with a certificate nobody trusts, and plain HTTP: both work on
  // 127.0.0.1 without flags, as with docker.
  ASSERT_TRUE(start_registry({.tls = true}));
  seed("busybox");
  Registry plain;
  ASSERT_TRUE(plain.start());
  ASSERT_EQ(plain.push("oci:" + image("busybox").layout + ":latest", "busybox:plain").status, 0);
  ASSERT_TRUE(start_daemon());
  ASSERT_TRUE(pull(reg_->ref("busybox:latest")));
  ASSERT_TRUE(pull(plain.ref("busybox:plain")));
  EXPECT_EQ(image_field(plain.ref("busybox:plain"), "{{.Id}}"), image("busybox").id);
}

TEST_F(RegistryApi, UnknownTagSaysManifestUnknown) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  ASSERT_TRUE(start_daemon());
  std::string ref = reg_->ref("busybox:nosuch");
  auto r = docker("pull " + ref);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "timed out: " << r.output;
  EXPECT_TRUE(contains(r.output, "manifest for " + ref + " not found")) << r.output;
  EXPECT_TRUE(contains(r.output, "manifest unknown")) << r.output;
  // docker run of it: 125 and the same words.
  r = docker("run --rm --network none " + ref + " true");
  EXPECT_EQ(r.status, 125) << r.output;
  EXPECT_TRUE(contains(r.output, "manifest unknown")) << r.output;
  EXPECT_EQ(image_ids(), "");
}

TEST_F(RegistryApi, RegistryDownIsAClearErrorWithoutHanging) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  reg_->stop();
  ASSERT_TRUE(start_daemon());
  auto r = docker("pull " + reg_->ref("busybox:latest"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "timed out: " << r.output;
  EXPECT_TRUE(matches(r.output, "connection refused")) << r.output;
  EXPECT_EQ(image_ids(), "");
  // Back up: the same pull works.
  ASSERT_TRUE(reg_->start());
  ASSERT_TRUE(pull(reg_->ref("busybox:latest")));
}

TEST_F(RegistryApi, CorruptedBlobIsRefusedAndLeavesNothing) {
  ASSERT_TRUE(start_registry());
  seed("multi");
  ASSERT_TRUE(start_daemon());
  // The third layer is an uncompressed tar: other bytes of the same length
  // inside a file's content make only its digest wrong.
  const auto& layer = image("multi").spec.layers[2];
  std::string path = reg_->blob_path(layer.digest);
  ASSERT_EQ(slurp(path), layer.blob);
  std::string bad = layer.blob;
  for (size_t i = bad.size() / 2; i < bad.size() / 2 + 4096; ++i)
    bad[i] = static_cast<char>(~bad[i]);
  ASSERT_TRUE(spit(path, bad));
  std::string ref = reg_->ref("multi:latest");
  auto r = docker("pull " + ref);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_TRUE(matches(r.output, "digest|verification failed|mismatch")) << r.output;
  EXPECT_EQ(image_ids(), "");
  EXPECT_EQ(leftovers(), "");
  auto blobs = blobs_of(daemon_->root());
  EXPECT_EQ(std::count(blobs.begin(), blobs.end(), layer.digest.substr(7)), 0);
  auto layer_dirs = list_dir(daemon_->root() + "/layers");
  EXPECT_EQ(std::count(layer_dirs.begin(), layer_dirs.end(), layer.diff_id.substr(7)), 0);
  // Mended, the next pull completes.
  ASSERT_TRUE(spit(path, layer.blob));
  ASSERT_TRUE(pull(ref));
  EXPECT_EQ(image_field(ref, "{{.Id}}"), image("multi").id);
  EXPECT_EQ(leftovers(), "");
}

TEST_F(RegistryApi, ConnectionCutMidBlobResumes) {
  ASSERT_TRUE(start_registry());
  seed("big");
  const auto& img = image("big");
  const auto& layer = img.spec.layers.back();
  CuttingProxy proxy(reg_->port(), "/blobs/" + layer.digest, 256 * 1024);
  ASSERT_TRUE(start_daemon());
  std::string ref = proxy.host() + "/big:latest";
  std::string out;
  ASSERT_TRUE(pull(ref, &out));
  EXPECT_TRUE(proxy.did_cut()) << "the proxy saw no download of " << layer.digest;
  bool ranged = false;
  for (const auto& req : proxy.requests())
    ranged = ranged || (contains(req, layer.digest) && matches(req, "\r\nrange: bytes="));
  EXPECT_TRUE(ranged) << "no request with Range after the cut";
  EXPECT_EQ(image_field(ref, "{{.Id}}"), img.id);
  expect_run(ref, "sha256sum /data/random.bin | cut -c1-64",
             archive::sha256(pseudo_random(3 << 20, 11)).hex() + "\n");
  EXPECT_EQ(leftovers(), "");
}

TEST_F(RegistryApi, DiskFullIsAClearErrorAndLeavesNothing) {
  ASSERT_TRUE(start_registry());
  seed("busybox");
  seed("huge");
  ASSERT_TRUE(start_daemon({}, "8m"));
  ASSERT_TRUE(pull(reg_->ref("busybox:latest")));
  std::string before = image_ids();
  auto r = docker("pull " + reg_->ref("huge:latest"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "timed out: " << r.output;
  EXPECT_TRUE(matches(r.output, "no space left on device")) << r.output;
  EXPECT_EQ(image_ids(), before);
  EXPECT_EQ(leftovers(), "");
  // The daemon still answers and still runs what it has.
  ok("version");
  expect_run(reg_->ref("busybox:latest"), "echo still-here", "still-here\n");
}

}  // namespace
}  // namespace berth::api
