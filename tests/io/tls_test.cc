// TLS client transport: ClientConnection over TlsTransport against a small
// blocking OpenSSL server on a thread (127.0.0.1, ephemeral port), with a CA
// and certificates made at test time. Covers verification (trusted CA, IP and
// DNS names, unknown CA, self-signed, wrong name, verify off), big bodies both
// ways, half-close, stalls (timeouts), a server that drops mid-body and a
// server that does not speak TLS. Every case is bounded in time and checks
// that no fd is left open.
#include "io/http/tls.h"

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "core/base/strings.h"
#include "io/http/client.h"
#include "io/net.h"
#include "io/reactor.h"
#include "tests/testlib/testlib.h"

namespace berth::io::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using berth::testing::TempDir;

uint64_t fnv1a(uint64_t h, std::string_view data) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}
constexpr uint64_t kFnvBasis = 14695981039346656037ull;

std::string pseudo_random_bytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed | 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

// --- certificates ------------------------------------------------------------

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

void add_ext(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  ASSERT_NE(e, nullptr) << "extension " << value;
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
}

// A certificate for key signed by issuer (itself when issuer is null).
Cert make_cert(EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, const std::string& cn, bool ca,
               const char* san) {
  static std::atomic<long> serial{1};
  Cert x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  add_ext(x.get(), &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x.get(), &ctx, NID_key_usage,
          ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
  add_ext(x.get(), &ctx, NID_subject_key_identifier, "hash");
  if (!ca) add_ext(x.get(), &ctx, NID_ext_key_usage, "serverAuth");
  if (san) add_ext(x.get(), &ctx, NID_subject_alt_name, san);
  EXPECT_GT(X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()), 0);
  return x;
}

void write_cert(const std::string& path, X509* x) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, x);
  std::fclose(f);
}
void write_key(const std::string& path, EVP_PKEY* k) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

// ca.pem signs server.pem (IP 127.0.0.1, DNS localhost); self.pem is a
// self-signed leaf for the same names; other-ca.pem trusts nothing here.
struct Pki {
  TempDir dir{"berth-tls-test"};
  std::string ca, server_cert, server_key, self_cert, self_key, other_ca;
  Pki() {
    Key ca_key(EVP_EC_gen("P-256")), server_key_(EVP_EC_gen("P-256"));
    Key self_key_(EVP_EC_gen("P-256")), other_key(EVP_EC_gen("P-256"));
    Cert ca_cert = make_cert(ca_key.get(), nullptr, nullptr, "berth test CA", true, nullptr);
    Cert srv = make_cert(server_key_.get(), ca_cert.get(), ca_key.get(), "localhost", false,
                         "IP:127.0.0.1,DNS:localhost");
    Cert self = make_cert(self_key_.get(), nullptr, nullptr, "localhost", false,
                          "IP:127.0.0.1,DNS:localhost");
    Cert other = make_cert(other_key.get(), nullptr, nullptr, "other CA", true, nullptr);
    ca = dir / "ca.pem";
    server_cert = dir / "server.pem";
    server_key = dir / "server.key";
    self_cert = dir / "self.pem";
    self_key = dir / "self.key";
    other_ca = dir / "other-ca.pem";
    write_cert(ca, ca_cert.get());
    write_cert(server_cert, srv.get());
    write_key(server_key, server_key_.get());
    write_cert(self_cert, self.get());
    write_key(self_key, self_key_.get());
    write_cert(other_ca, other.get());
  }
};

const Pki& pki() {
  static Pki p;  // made once for every test, removed at exit
  return p;
}

// --- the server --------------------------------------------------------------

enum class Mode {
  http,             // answers HTTP requests (see serve_http), keep-alive
  read_to_eof,      // reads until close_notify, then answers with the count
  echo,             // raw bytes back as they come, until close_notify
  stall_handshake,  // accepts TCP and says nothing
  stall_response,   // completes TLS, reads the request, never answers
  drop_mid_body,    // promises 1 MB, sends 100 KB, closes without close_notify
  plain,            // no TLS: answers anything with a plain HTTP 400
};

class Server {
 public:
  Server(Mode mode, const std::string& cert, const std::string& key) : mode_(mode) {
    ::signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM), 1);
    listen_ = unique_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_.get(), 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
    SSL_CTX_free(ctx_);
  }
  int port() const { return port_; }
  Endpoint endpoint() const {
    Endpoint ep;
    ep.kind = Endpoint::Kind::tcp;
    ep.host = "127.0.0.1";
    ep.port = static_cast<uint16_t>(port_);
    return ep;
  }
  int handshakes_failed() const { return handshakes_failed_; }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      unique_fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) continue;
      // Bounds every blocking call below whatever the client does.
      timeval tv{10, 0};
      ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(c.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      serve(c.get());
    }
  }

  void serve(int fd) {
    if (mode_ == Mode::stall_handshake || mode_ == Mode::plain) {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0 && mode_ == Mode::plain) {
        std::string_view r =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!::send(fd, r.data(), r.size(), MSG_NOSIGNAL);
      }
      while (mode_ == Mode::stall_handshake && ::recv(fd, buf, sizeof buf, 0) > 0) {
      }
      return;
    }
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
      ++handshakes_failed_;
      ERR_clear_error();
      SSL_free(ssl);
      return;
    }
    bool clean = true;
    switch (mode_) {
      case Mode::http:
        while (serve_http(ssl)) {
        }
        break;
      case Mode::read_to_eof: {
        char buf[16384];
        size_t total = 0;
        int n;
        while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) total += static_cast<size_t>(n);
        bool notified = SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN;
        std::string body = str_cat(total, notified ? " close_notify" : " eof");
        std::string res = str_cat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(),
                                  "\r\nConnection: close\r\n\r\n", body);
        SSL_write(ssl, res.data(), static_cast<int>(res.size()));
        break;
      }
      case Mode::echo: {
        char buf[16384];
        int n;
        while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
          if (SSL_write(ssl, buf, n) != n) break;
        break;
      }
      case Mode::stall_response: {
        std::string head;
        read_head(ssl, &head);
        char c;
        while (SSL_read(ssl, &c, 1) > 0) {
        }
        clean = false;
        break;
      }
      case Mode::drop_mid_body: {
        std::string head;
        read_head(ssl, &head);
        std::string res = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
        res += std::string(100000, 'x');
        SSL_write(ssl, res.data(), static_cast<int>(res.size()));
        clean = false;  // the socket closes under the client, no close_notify
        break;
      }
      default: break;
    }
    if (clean) SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
  }

  // Reads up to the end of a request head; false at EOF.
  static bool read_head(SSL* ssl, std::string* head) {
    char c;
    while (head->find("\r\n\r\n") == std::string::npos) {
      if (SSL_read(ssl, &c, 1) != 1) return false;
      head->push_back(c);
    }
    return true;
  }

  // One request: reads the body (Content-Length) while hashing it and answers
  // with X-Got: "<len> <fnv>" and, for ?reply=N, N pseudo-random bytes
  // (seed 7), else "hello over tls".
  static bool serve_http(SSL* ssl) {
    std::string head;
    if (!read_head(ssl, &head)) return false;
    std::string lower = to_lower(head);
    size_t cl = 0;
    if (size_t p = lower.find("content-length:"); p != std::string::npos)
      cl = std::stoul(lower.substr(p + 15));
    uint64_t h = kFnvBasis;
    size_t got = 0;
    std::string buf(64 * 1024, '\0');
    while (got < cl) {
      int n = SSL_read(ssl, buf.data(), static_cast<int>(std::min(buf.size(), cl - got)));
      if (n <= 0) return false;
      h = fnv1a(h, std::string_view(buf.data(), static_cast<size_t>(n)));
      got += static_cast<size_t>(n);
    }
    std::string body = "hello over tls";
    if (size_t p = head.find("reply="); p != std::string::npos)
      body = pseudo_random_bytes(std::stoul(head.substr(p + 6)), 7);
    std::string host;
    if (size_t p = lower.find("\r\nhost: "); p != std::string::npos)
      host = head.substr(p + 8, head.find("\r\n", p + 2) - p - 8);
    std::string res = str_cat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(),
                              "\r\nX-Got: ", got, " ", h, "\r\nX-Host: ", host, "\r\n\r\n");
    res += body;
    for (size_t off = 0; off < res.size();) {
      int n = SSL_write(ssl, res.data() + off,
                        static_cast<int>(std::min<size_t>(res.size() - off, 1 << 20)));
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  Mode mode_;
  SSL_CTX* ctx_ = nullptr;
  unique_fd listen_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_failed_{0};
  std::thread thread_;
};

// --- the client on a reactor ------------------------------------------------

struct Reply {
  int status = 0;
  std::string got;   // X-Got
  std::string host;  // X-Host
  size_t body_len = 0;
  uint64_t body_hash = kFnvBasis;
  std::string body;  // when small
};

Task<Result<Reply>> fetch(Endpoint ep, std::shared_ptr<TlsContext> tls, std::string name,
                          std::string target, std::string body, std::optional<Duration> timeout) {
  auto conn = co_await ClientConnection::open(ep, timeout, tls, name);
  if (!conn) co_return std::unexpected(std::move(conn.error()));
  ClientRequest req;
  req.method = body.empty() ? "GET" : "POST";
  req.target = target;
  req.body = std::move(body);
  auto sent = co_await (*conn)->send(req);
  if (!sent) co_return std::unexpected(std::move(sent.error()));
  auto head = co_await (*conn)->read_head(timeout);
  if (!head) co_return std::unexpected(std::move(head.error()));
  Reply r;
  r.status = (*conn)->status();
  r.got = std::string((*conn)->header("X-Got").value_or(""));
  r.host = std::string((*conn)->header("X-Host").value_or(""));
  for (;;) {
    auto chunk = co_await (*conn)->read_body(timeout);
    if (!chunk) co_return std::unexpected(std::move(chunk.error()));
    if (chunk->empty()) break;
    r.body_len += chunk->size();
    r.body_hash = fnv1a(r.body_hash, *chunk);
    if (r.body.size() < 4096) r.body.append(*chunk);
  }
  co_return r;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki();
    fds_before_ = berth::testing::count_fds();
    auto r = Reactor::create({});
    ASSERT_TRUE(r) << r.error().message;
    reactor_ = std::move(*r);
  }
  void TearDown() override {
    reactor_.reset();
    EXPECT_EQ(berth::testing::count_fds(), fds_before_) << "an fd was left open";
  }
  static std::shared_ptr<TlsContext> context(TlsConfig cfg) {
    auto c = TlsContext::create(cfg);
    EXPECT_TRUE(c) << c.error().message;
    return c ? *c : nullptr;
  }
  static std::shared_ptr<TlsContext> trusting_ca() { return context({.ca_file = pki().ca}); }

  Result<Reply> get(const Server& s, std::shared_ptr<TlsContext> tls, std::string name,
                    std::string target = "/hello", std::string body = {},
                    std::optional<Duration> timeout = 10s) {
    return reactor_->run_until(fetch(s.endpoint(), std::move(tls), std::move(name),
                                     std::move(target), std::move(body), timeout));
  }

  std::unique_ptr<Reactor> reactor_;
  int fds_before_ = 0;
};

TEST_F(TlsTest, VerifiedRequestByIpAddress) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  auto r = get(s, trusting_ca(), "127.0.0.1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello over tls");
  EXPECT_EQ(r->host, str_cat("127.0.0.1:", s.port()));
}

TEST_F(TlsTest, VerifiedRequestByDnsName) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  auto r = get(s, trusting_ca(), "localhost");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "hello over tls");
}

TEST_F(TlsTest, EmptyServerNameMeansTheEndpointHost) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  auto r = get(s, trusting_ca(), "");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "hello over tls");
}

TEST_F(TlsTest, KeepAliveRequestsShareTheConnection) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  auto run = [](Endpoint ep, std::shared_ptr<TlsContext> tls) -> Task<Result<int>> {
    auto conn = co_await ClientConnection::open(ep, 10s, tls, "127.0.0.1");
    if (!conn) co_return std::unexpected(std::move(conn.error()));
    int ok = 0;
    for (int i = 0; i < 5; ++i) {
      ClientRequest req;
      req.target = "/hello";
      auto sent = co_await (*conn)->send(req);
      if (!sent) co_return std::unexpected(std::move(sent.error()));
      auto head = co_await (*conn)->read_head(10s);
      if (!head) co_return std::unexpected(std::move(head.error()));
      auto body = co_await (*conn)->read_body_all(1024, 10s);
      if (!body) co_return std::unexpected(std::move(body.error()));
      if (*body == "hello over tls" && (*conn)->reusable()) ++ok;
    }
    co_return ok;
  };
  auto r = reactor_->run_until(run(s.endpoint(), trusting_ca()));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, 5);
}

TEST_F(TlsTest, UnknownCaIsRefused) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  auto r = get(s, context({.ca_file = pki().other_ca}), "127.0.0.1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            str_cat("TLS handshake with 127.0.0.1:", s.port(),
                    ": certificate verify failed: unable to get local issuer certificate"));
}

TEST_F(TlsTest, SystemStoreAloneDoesNotTrustTheTestCa) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  auto r = get(s, context({}), "localhost");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos)
      << r.error().message;
}

TEST_F(TlsTest, SelfSignedCertificateIsRefused) {
  Server s(Mode::http, pki().self_cert, pki().self_key);
  auto r = get(s, trusting_ca(), "127.0.0.1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find(str_cat("TLS handshake with 127.0.0.1:", s.port(),
                                           ": certificate verify failed: self")),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("signed certificate"), std::string::npos) << r.error().message;
}

TEST_F(TlsTest, WrongNameIsRefused) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  auto r = get(s, trusting_ca(), "registry.example.com");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            str_cat("TLS handshake with registry.example.com:", s.port(),
                    ": certificate verify failed: hostname mismatch (certificate is valid for "
                    "127.0.0.1, localhost)"));
  auto ip = get(s, trusting_ca(), "127.0.0.2");
  ASSERT_FALSE(ip);
  EXPECT_NE(ip.error().message.find("certificate verify failed: IP address mismatch"),
            std::string::npos)
      << ip.error().message;
}

TEST_F(TlsTest, VerifyOffAcceptsAnyCertificate) {
  Server s(Mode::http, pki().self_cert, pki().self_key);
  auto r = get(s, context({.verify = false}), "registry.example.com");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "hello over tls");
}

TEST_F(TlsTest, TwentyMegabytesEachWay) {
  Server s(Mode::http, pki().server_cert, pki().server_key);
  constexpr size_t kSize = 20 << 20;
  std::string up = pseudo_random_bytes(kSize, 3);
  uint64_t up_hash = fnv1a(kFnvBasis, up);
  std::string down = pseudo_random_bytes(kSize, 7);
  uint64_t down_hash = fnv1a(kFnvBasis, down);
  down.clear();
  auto start = Clock::now();
  auto r = get(s, trusting_ca(), "127.0.0.1", str_cat("/upload?reply=", kSize), std::move(up), 60s);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->got, str_cat(kSize, " ", up_hash));
  EXPECT_EQ(r->body_len, kSize);
  EXPECT_EQ(r->body_hash, down_hash);
  EXPECT_LT(Clock::now() - start, 60s);
}

TEST_F(TlsTest, HalfCloseSendsCloseNotifyAndStillReads) {
  Server s(Mode::read_to_eof, pki().server_cert, pki().server_key);
  auto run = [](Endpoint ep, std::shared_ptr<TlsContext> tls) -> Task<Result<std::string>> {
    auto conn = co_await ClientConnection::open(ep, 10s, tls, "127.0.0.1");
    if (!conn) co_return std::unexpected(std::move(conn.error()));
    std::string data(100000, 'd');
    int rc = co_await (*conn)->transport().write_all(data, 10s);
    if (rc < 0) co_return sys_fail(-rc, "write");
    (*conn)->transport().shutdown_write();
    auto head = co_await (*conn)->read_head(10s);
    if (!head) co_return std::unexpected(std::move(head.error()));
    auto body = co_await (*conn)->read_body_all(1024, 10s);
    co_return body;
  };
  auto r = reactor_->run_until(run(s.endpoint(), trusting_ca()));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "100000 close_notify");
}

// A hijacked stream: one coroutine reads while another writes on the same
// transport (the server echoes, so neither side can finish alone).
struct EchoState {
  size_t want = 0, got = 0;
  uint64_t hash = kFnvBasis;
  int error = 0;
  bool done = false;
};

Task<void> read_echo(Transport* t, EchoState* st) {
  std::string buf(32 * 1024, '\0');
  while (st->got < st->want) {
    int n = co_await t->read(buf.data(), buf.size(), 20s);
    if (n <= 0) {
      st->error = n == 0 ? -EPIPE : n;
      break;
    }
    st->hash = fnv1a(st->hash, std::string_view(buf.data(), static_cast<size_t>(n)));
    st->got += static_cast<size_t>(n);
  }
  st->done = true;
}

Task<Result<EchoState>> echo_through(Endpoint ep, std::shared_ptr<TlsContext> tls,
                                     std::string data) {
  auto conn = co_await ClientConnection::open(ep, 10s, tls, "127.0.0.1");
  if (!conn) co_return std::unexpected(std::move(conn.error()));
  Transport* t = &(*conn)->transport();
  EchoState st;
  st.want = data.size();
  spawn(read_echo(t, &st));
  std::string_view rest = data;
  int wrc = 0;
  while (!rest.empty()) {
    size_t n = std::min<size_t>(rest.size(), 100000);
    wrc = co_await t->write_all(rest.substr(0, n), 20s);
    if (wrc < 0) break;
    rest.remove_prefix(n);
  }
  for (int i = 0; i < 30000 && !st.done && wrc == 0; ++i) co_await io::sleep(1ms);
  // The reader points into this frame: end it before leaving (its reads
  // time out anyway).
  if (!st.done) ::shutdown(t->fd(), SHUT_RDWR);
  while (!st.done) co_await io::sleep(1ms);
  if (wrc < 0) co_return sys_fail(-wrc, "write");
  t->shutdown_write();
  co_return st;
}

TEST_F(TlsTest, ConcurrentReadAndWriteOnOneStream) {
  Server s(Mode::echo, pki().server_cert, pki().server_key);
  std::string data = pseudo_random_bytes(8 << 20, 11);
  uint64_t h = fnv1a(kFnvBasis, data);
  auto r = reactor_->run_until(echo_through(s.endpoint(), trusting_ca(), std::move(data)));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->error, 0);
  EXPECT_EQ(r->got, size_t{8} << 20);
  EXPECT_EQ(r->hash, h);
}

TEST_F(TlsTest, StalledHandshakeTimesOut) {
  Server s(Mode::stall_handshake, pki().server_cert, pki().server_key);
  auto start = Clock::now();
  auto r = get(s, trusting_ca(), "127.0.0.1", "/hello", {}, 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout);
  EXPECT_EQ(r.error().message, str_cat("TLS handshake with 127.0.0.1:", s.port(), ": timed out"));
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(TlsTest, StalledResponseTimesOut) {
  Server s(Mode::stall_response, pki().server_cert, pki().server_key);
  auto start = Clock::now();
  auto r = get(s, trusting_ca(), "127.0.0.1", "/hello", {}, 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::timeout) << r.error().message;
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(TlsTest, DropMidBodyIsAnError) {
  Server s(Mode::drop_mid_body, pki().server_cert, pki().server_key);
  auto start = Clock::now();
  auto r = get(s, trusting_ca(), "127.0.0.1", "/hello", {}, 10s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("connection closed in the middle of the body"),
            std::string::npos)
      << r.error().message;
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_F(TlsTest, PlainHttpServerIsAClearHandshakeError) {
  Server s(Mode::plain, pki().server_cert, pki().server_key);
  auto r = get(s, trusting_ca(), "127.0.0.1", "/hello", {}, 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_EQ(r.error().message, str_cat("TLS handshake with 127.0.0.1:", s.port(),
                                       ": server gave HTTP response to HTTPS client"));
}

TEST_F(TlsTest, ServerClosingDuringHandshakeIsClear) {
  // A TLS server that refuses our handshake outright: close on accept.
  unique_fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(l.get(), 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len);
  std::thread t([&] {
    pollfd p{l.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    unique_fd c(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char buf[16384];
    timeval tv{5, 0};
    ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)!::recv(c.get(), buf, sizeof buf, 0);
  });
  Endpoint ep;
  ep.kind = Endpoint::Kind::tcp;
  ep.host = "127.0.0.1";
  ep.port = ntohs(a.sin_port);
  auto r = reactor_->run_until(fetch(ep, trusting_ca(), "127.0.0.1", "/", {}, 5s));
  t.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, str_cat("TLS handshake with 127.0.0.1:", ep.port,
                                       ": server closed the connection during the TLS handshake"));
}

TEST(TlsContextTest, BadFilesAreClearErrors) {
  auto missing = TlsContext::create({.ca_file = "/nonexistent/ca.pem"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::invalid_argument);
  EXPECT_NE(missing.error().message.find("load CA certificates from /nonexistent/ca.pem"),
            std::string::npos)
      << missing.error().message;
  auto mismatch = TlsContext::create({.cert_file = pki().server_cert, .key_file = pki().self_key});
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("load client key from " + pki().self_key),
            std::string::npos)
      << mismatch.error().message;
  EXPECT_NE(mismatch.error().message.find("mismatch"), std::string::npos)
      << mismatch.error().message;
  auto ok = TlsContext::create({.cert_file = pki().server_cert, .key_file = pki().server_key});
  EXPECT_TRUE(ok) << ok.error().message;
}

}  // namespace
}  // namespace berth::io::http
