// Registries for tests: Debian's docker-registry (distribution v2) as a
// child process on 127.0.0.1, on a free port, with its storage in a temp
// dir. Flavours: plain HTTP, htpasswd basic auth (bcrypt), TLS with a CA
// and server certificate the fixture makes with the openssl CLI, and
// Bearer token auth with a small token server (python3, RS256 tokens
// signed by the openssl CLI). Beside it: skopeo helpers that push images
// into it and read manifest digests back, OCI image layouts written from
// in-memory layers, and a TCP proxy that cuts one blob download short.
//
// Lifetimes: a Registry owns its processes (each in its own process group)
// and its temp dir; the destructor kills the groups and removes the dir,
// also when the test failed. Every wait is bounded. Not thread-safe: one
// test thread drives it. CuttingProxy runs one thread of its own, joined
// by its destructor.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/layers/layer_test_util.h"
#include "tests/testlib/testlib.h"

namespace berth::testing {

// Empty when docker-registry, skopeo, openssl and curl (and, for the
// flavours that need them, htpasswd and python3) are all present; else
// what is missing, for GTEST_SKIP.
std::string registry_tools_missing(bool htpasswd = false, bool python = false);

class Registry {
 public:
  enum class Auth { none, htpasswd, token };
  struct Options {
    Auth auth = Auth::none;
    bool tls = false;
    std::string user = "berth-user";
    std::string password = "berth-pass-1";
  };

  Registry() : Registry(Options{}) {}
  explicit Registry(Options opts);
  ~Registry();  // kills what it started, removes the dir
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Makes the certificates, password file and config, starts the registry
  // (and the token server) and waits until GET /v2/ answers (200 or 401).
  ::testing::AssertionResult start();
  // Kills the registry (the token server stays): "registry down". The
  // storage is kept; start() again serves it on the same port.
  void stop();
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  std::string host() const;  // 127.0.0.1:PORT
  std::string url() const;   // http(s)://127.0.0.1:PORT
  // host() + "/" + name, e.g. ref("busybox:latest").
  std::string ref(const std::string& name) const { return host() + "/" + name; }
  const std::string& user() const { return opts_.user; }
  const std::string& password() const { return opts_.password; }
  bool tls() const { return opts_.tls; }
  Auth auth() const { return opts_.auth; }
  const std::string& dir() const { return dir_.path(); }
  std::string storage() const { return dir_ / "storage"; }
  // The CA that signed the server certificate ("" without TLS).
  std::string ca_path() const { return opts_.tls ? dir_ / "ca.crt" : ""; }
  // A docker certs.d layout holding the CA: DIR/127.0.0.1:PORT/ca.crt;
  // made on the first call (after start). For --registry-certs.
  std::string certs_d();
  // Where the registry keeps a blob's bytes (filesystem driver).
  std::string blob_path(const std::string& digest) const;
  // The registry's (and token server's) log so far.
  std::string log() const;

  // skopeo with HOME, DOCKER_CONFIG and XDG_RUNTIME_DIR inside the dir, the
  // insecure policy and a 120 s bound.
  CommandResult skopeo(const std::string& args) const;
  // --src-/--dest- flags for this registry: tls-verify=false, creds.
  std::string src_flags() const;
  std::string dest_flags() const;
  // skopeo copy SOURCE (e.g. "oci:DIR:TAG", "docker-archive:FILE") to
  // docker://ref(name); extra: more copy flags (e.g. "--format v2s2").
  CommandResult push(const std::string& source, const std::string& name,
                     const std::string& extra = "") const;
  // sha256 of the manifest the registry serves for name (tag or @digest);
  // "" on failure, with skopeo's output in *error.
  std::string manifest_digest(const std::string& name, std::string* error = nullptr) const;
  // The raw manifest (or index) the registry serves for name.
  std::string raw_manifest(const std::string& name) const;

 private:
  ::testing::AssertionResult make_files();
  ::testing::AssertionResult start_token_server();
  ::testing::AssertionResult wait_ready(pid_t pid, const std::string& url);
  std::string curl_flags() const;

  Options opts_;
  TempDir dir_;
  int port_ = 0;
  int token_port_ = 0;
  pid_t pid_ = -1;
  pid_t token_pid_ = -1;
  bool files_made_ = false;
};

// --- images as OCI layouts ---------------------------------------------------------

struct Platform {
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;
};

// The image config an OCI layout holds for spec on platform (config_json
// with the platform's architecture, os and variant); its sha256 is the
// image ID.
std::string oci_config(const layers::testing::ImageSpec& spec, const Platform& platform = {});

// Writes (or adds to) an OCI image layout at dir holding spec under tag,
// with gzip layers as OCI layer blobs; returns the manifest's digest.
std::string write_oci_image(const std::string& dir, const std::string& tag,
                            const layers::testing::ImageSpec& spec, const Platform& platform = {});
// An OCI index of one manifest per platform under tag; returns the
// index's digest. Push it with push(..., "--all").
std::string write_oci_index(
    const std::string& dir, const std::string& tag,
    const std::vector<std::pair<Platform, layers::testing::ImageSpec>>& images);

// The busybox image of tools/make-busybox-image.sh as one gzip layer with
// Cmd ["sh"]; the rootfs tar is made in work_dir. Empty layers (and the
// reason in *why) when it cannot be made.
layers::testing::ImageSpec busybox_image(const std::string& work_dir, std::string* why);

// "sha256:<hex>" of data.
std::string sha256_digest(std::string_view data);

// Base64 with padding (docker's config.json "auth"), or base64url without
// (X-Registry-Auth).
std::string base64(std::string_view data, bool url = false);

// --- a proxy that drops a blob download ---------------------------------------------

// Listens on 127.0.0.1 (port()) and forwards every connection to
// 127.0.0.1:target. The first response to a request whose line holds
// match (e.g. "/blobs/sha256:<hex>") is cut: after cut_after bytes from
// the upstream, both sides are closed. Later requests pass untouched.
// Records each request's head so a test can see what was asked (Range).
class CuttingProxy {
 public:
  CuttingProxy(int target_port, std::string match, size_t cut_after);
  ~CuttingProxy();  // stops the thread, closes every socket
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  bool did_cut() const { return cut_done_.load(); }
  // Heads of the requests seen (request line and headers), in order.
  std::vector<std::string> requests() const;

 private:
  void loop();

  int target_;
  std::string match_;
  size_t cut_after_;
  unique_fd listener_;
  unique_fd wake_[2];
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_done_{false};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace berth::testing
