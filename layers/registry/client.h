// The registry client: how berth talks to registries over the distribution
// API. Two levels:
//
//   Registries — daemon-wide: which registries are insecure (plain HTTP or an
//                unverified certificate allowed: 127.0.0.0/8 and localhost by
//                default, as docker's, plus --insecure-registry), extra CAs
//                from a certs.d directory (DIR/HOST:PORT/ca.crt as docker's),
//                shared TLS contexts, the scheme learned per insecure host,
//                and bearer tokens cached until they expire. Thread-safe.
//   Session    — one pull or push against one repository, on one reactor:
//                a keep-alive connection pool per origin, the auth dance
//                (a 401's challenge -> token or basic credentials -> retry),
//                redirects (blob downloads redirect to storage; credentials
//                are not sent to another host), connect/read timeouts and
//                retries with backoff for connection failures. Not
//                thread-safe: owned by the coroutine that runs the pull/push.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "io/channel.h"
#include "io/http/client.h"
#include "io/http/tls.h"
#include "io/task.h"
#include "layers/registry/auth.h"

namespace berth::layers::registry {

struct RegistryOptions {
  std::vector<std::string> insecure;  // "host:port", "host" or an IPv4 CIDR
  std::string certs_dir;              // docker's certs.d layout; "" none
  bool strict_loopback = false;       // tests: loopback is not insecure by default
  std::chrono::milliseconds connect_timeout{15000};
  std::chrono::milliseconds read_timeout{60000};
  int attempts = 3;  // tries of a request whose connection failed
};

// Where a registry (a reference's domain) is served.
struct RegistryHost {
  std::string name;  // as in references: "127.0.0.1:5000", "docker.io"
  std::string host;  // to connect to: "registry-1.docker.io"
  uint16_t port = 443;
  bool explicit_port = false;
  bool insecure = false;
  std::string ca_file, cert_file, key_file;  // from certs.d
};

struct Url {
  bool https = true;
  std::string host;
  uint16_t port = 0;
  std::string target;          // path?query
  std::string origin() const;  // https://host:port
};
// Parses an absolute http(s) URL.
Result<Url> parse_url(std::string_view s);

class Registries {
 public:
  explicit Registries(RegistryOptions opts);
  const RegistryOptions& options() const { return opts_; }

  RegistryHost host(const std::string& name) const;
  bool insecure(const std::string& name) const;

  // A TLS context for verify/CA/client-cert, made once and shared.
  Result<std::shared_ptr<io::http::TlsContext>> tls(bool verify, const std::string& ca,
                                                    const std::string& cert,
                                                    const std::string& key);
  // The scheme an insecure registry turned out to speak (true: plain HTTP).
  std::optional<bool> plain_http(const std::string& name);
  void set_plain_http(const std::string& name, bool plain);

  std::optional<std::string> token(const std::string& key);
  void put_token(const std::string& key, std::string token, std::chrono::seconds ttl);

 private:
  RegistryOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<io::http::TlsContext>> tls_;
  std::map<std::string, bool> plain_;
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Token> tokens_;
};

struct Reply {
  std::unique_ptr<io::http::ClientConnection> conn;
  std::string origin;
  int status() const { return conn->status(); }
  std::optional<std::string_view> header(std::string_view n) const { return conn->header(n); }
};

struct RegistryRequest {
  std::string method = "GET";
  std::string target;  // a path (/v2/...) on the registry, or an absolute URL (upload locations)
  io::http::Headers headers;
  std::string body;
  // A streamed body of body_length bytes (blob uploads), read from a channel.
  std::shared_ptr<io::OutboundChannel> body_stream;
  uint64_t body_length = 0;
  bool follow_redirects = true;
  // Called with the bytes of body_stream sent so far (progress).
  std::function<void(uint64_t)> on_sent;
};

class Session {
 public:
  // scopes: e.g. {"repository:library/busybox:pull"}.
  Session(Registries& regs, RegistryHost host, Credentials creds, std::vector<std::string> scopes);
  ~Session();

  const RegistryHost& host() const { return host_; }
  void add_scope(std::string s) { scopes_.push_back(std::move(s)); }

  // Sends req with credentials, follows redirects and answers a 401
  // challenge once; the reply's head has been read (any status).
  io::Task<Result<std::unique_ptr<Reply>>> send(RegistryRequest req);
  // Reads the rest of a reply's body (at most limit bytes) and returns the
  // connection to the pool.
  io::Task<Result<std::string>> read_all(std::unique_ptr<Reply> r, size_t limit);
  // Returns a fully read reply's connection to the pool (or closes it).
  void release(std::unique_ptr<Reply> r);
  // A 4xx/5xx reply as an error: the registry's message, the status.
  io::Task<Error> error_of(std::unique_ptr<Reply> r, std::string what);

  std::chrono::milliseconds read_timeout() const { return regs_.options().read_timeout; }

 private:
  io::Task<Result<std::unique_ptr<Reply>>> send_once(const RegistryRequest& req, const Url& url,
                                                     bool with_auth);
  // tls_failed: set when the TCP connection stood but the TLS handshake failed.
  io::Task<Result<std::unique_ptr<io::http::ClientConnection>>> connect(Url url, bool* tls_failed);
  io::Task<Result<void>> authenticate(std::string challenge_header);
  io::Task<Result<Url>> base_url();

  Registries& regs_;
  RegistryHost host_;
  Credentials creds_;
  std::vector<std::string> scopes_;
  std::string authorization_;  // the Authorization header value for host_
  std::optional<Url> base_;    // scheme+host+port of the registry, once known
  std::map<std::string, std::vector<std::unique_ptr<io::http::ClientConnection>>> idle_;
};

}  // namespace berth::layers::registry
