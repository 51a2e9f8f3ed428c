#include "io/http/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <chrono>
#include <climits>

#include "core/base/strings.h"

namespace berth::io::http {

namespace {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

constexpr size_t kInBuffer = 64 * 1024;    // ciphertext read from the socket at once
constexpr size_t kWriteChunk = 64 * 1024;  // plaintext encrypted before a flush
constexpr size_t kCoalesce = 16 * 1024;    // one TLS record's worth of small parts

Deadline deadline_of(std::optional<Duration> timeout) {
  if (!timeout) return std::nullopt;
  return Clock::now() + *timeout;
}

// nullopt: no deadline; otherwise what is left of it (0 once it passed).
std::optional<Duration> left_of(const Deadline& d) {
  if (!d) return std::nullopt;
  auto left = std::chrono::duration_cast<Duration>(*d - Clock::now());
  return left.count() < 0 ? Duration(0) : left;
}

bool expired(const Deadline& d) {
  return d && Clock::now() >= *d;
}

// OpenSSL's reasons for the errors queued on this thread (earliest first),
// clearing the queue.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string one = reason ? reason : str_cat("error:", e);
    if (out.find(one) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += one;
  }
  return out;
}

Error openssl_fail(Errc code, std::string_view what) {
  std::string why = openssl_errors();
  return Error{code, 0, why.empty() ? std::string(what) : str_cat(what, ": ", why)};
}

// An IP address literal (brackets of a v6 literal removed), or "".
std::string ip_literal(std::string_view name) {
  std::string s(name);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  in6_addr a6;
  in_addr a4;
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1) return s;
  return {};
}

// The names a certificate is valid for (its DNS and IP subjectAltNames).
std::string certificate_names(X509* cert) {
  std::string out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    std::string one;
    if (n->type == GEN_DNS) {
      const ASN1_IA5STRING* s = n->d.dNSName;
      one.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                 static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = n->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(s);
      if (len == 4 || len == 16)
        inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
      one = text;
    }
    if (one.empty()) continue;
    if (!out.empty()) out += ", ";
    out += one;
  }
  GENERAL_NAMES_free(names);
  return out;
}

// Keeps the names of a leaf certificate that failed the name check, for the
// message (OpenSSL keeps no peer certificate from a failed handshake). The
// session's app data points at the string to fill.
int remember_names(int ok, X509_STORE_CTX* sc) {
  if (ok) return ok;
  int e = X509_STORE_CTX_get_error(sc);
  if (e != X509_V_ERR_HOSTNAME_MISMATCH && e != X509_V_ERR_IP_ADDRESS_MISMATCH) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(sc, SSL_get_ex_data_X509_STORE_CTX_idx()));
  X509* leaf = X509_STORE_CTX_get0_cert(sc);
  auto* names = ssl ? static_cast<std::string*>(SSL_get_app_data(ssl)) : nullptr;
  if (names && leaf) *names = certificate_names(leaf);
  return ok;
}

}  // namespace

// --- TlsContext -------------------------------------------------------------

Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsConfig& cfg) {
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (!raw) return std::unexpected(openssl_fail(Errc::internal, "create TLS context"));
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw, cfg.verify));
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(raw, kAlpn, sizeof kAlpn - 1);
  if (cfg.verify) {
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    // A host without a system store still works with an explicit ca_file.
    SSL_CTX_set_default_verify_paths(raw);
    ERR_clear_error();
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.ca_file.empty() && SSL_CTX_load_verify_locations(raw, cfg.ca_file.c_str(), nullptr) != 1)
    return std::unexpected(
        openssl_fail(Errc::invalid_argument, str_cat("load CA certificates from ", cfg.ca_file)));
  if (!cfg.cert_file.empty()) {
    const std::string& key = cfg.key_file.empty() ? cfg.cert_file : cfg.key_file;
    if (SSL_CTX_use_certificate_chain_file(raw, cfg.cert_file.c_str()) != 1)
      return std::unexpected(openssl_fail(Errc::invalid_argument,
                                          str_cat("load client certificate from ", cfg.cert_file)));
    if (SSL_CTX_use_PrivateKey_file(raw, key.c_str(), SSL_FILETYPE_PEM) != 1)
      return std::unexpected(
          openssl_fail(Errc::invalid_argument, str_cat("load client key from ", key)));
    if (SSL_CTX_check_private_key(raw) != 1)
      return std::unexpected(openssl_fail(
          Errc::invalid_argument,
          str_cat("client key ", key, " does not match the certificate ", cfg.cert_file)));
  } else if (!cfg.key_file.empty()) {
    return fail(Errc::invalid_argument, "a client key needs a client certificate");
  }
  return ctx;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

// --- TlsTransport -----------------------------------------------------------

TlsTransport::TlsTransport(unique_fd fd, std::shared_ptr<TlsContext> ctx, std::string peer)
    : Transport(std::move(fd)),
      ctx_(std::move(ctx)),
      peer_(std::move(peer)),
      in_(std::make_unique<char[]>(kInBuffer)) {}

TlsTransport::~TlsTransport() {
  if (ssl_) SSL_free(ssl_);  // frees both BIOs
}

Result<void> TlsTransport::setup(const std::string& server_name) {
  ERR_clear_error();
  ssl_ = SSL_new(ctx_->get());
  if (!ssl_) return std::unexpected(openssl_fail(Errc::internal, "create TLS session"));
  net_in_ = BIO_new(BIO_s_mem());
  net_out_ = BIO_new(BIO_s_mem());
  if (!net_in_ || !net_out_) {
    BIO_free(net_in_);
    BIO_free(net_out_);
    net_in_ = net_out_ = nullptr;
    return std::unexpected(openssl_fail(Errc::internal, "create TLS buffers"));
  }
  SSL_set_bio(ssl_, net_in_, net_out_);
  SSL_set_connect_state(ssl_);
  std::string ip = ip_literal(server_name);
  // RFC 6066: SNI carries host names only, never address literals.
  if (ip.empty() && !server_name.empty() &&
      SSL_set_tlsext_host_name(ssl_, server_name.c_str()) != 1)
    return std::unexpected(openssl_fail(Errc::invalid_argument, "set TLS server name"));
  if (ctx_->verify()) {
    if (server_name.empty()) return fail(Errc::invalid_argument, "no server name to verify");
    int ok = ip.empty() ? SSL_set1_host(ssl_, server_name.c_str())
                        : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), ip.c_str());
    if (ok != 1)
      return std::unexpected(
          openssl_fail(Errc::invalid_argument, str_cat("set TLS peer name ", server_name)));
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set_app_data(ssl_, &cert_names_);
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, remember_names);
  }
  return {};
}

Task<Result<std::unique_ptr<Transport>>> TlsTransport::handshake(unique_fd fd,
                                                                 std::shared_ptr<TlsContext> ctx,
                                                                 std::string server_name,
                                                                 std::optional<Duration> timeout) {
  std::string host = server_name;
  if (host.find(':') != std::string::npos && host.front() != '[') host = str_cat("[", host, "]");
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&ss), &sl) == 0) {
    if (ss.ss_family == AF_INET)
      host = str_cat(host, ":", ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port));
    else if (ss.ss_family == AF_INET6)
      host = str_cat(host, ":", ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port));
  }
  std::unique_ptr<TlsTransport> t(new TlsTransport(std::move(fd), std::move(ctx), host));
  auto set = t->setup(server_name);
  if (!set) {
    set.error().context(str_cat("TLS handshake with ", host));
    co_return std::unexpected(std::move(set.error()));
  }
  auto done = co_await t->run_handshake(timeout);
  if (!done) co_return std::unexpected(std::move(done.error()));
  co_return std::unique_ptr<Transport>(std::move(t));
}

Task<Result<void>> TlsTransport::run_handshake(std::optional<Duration> timeout) {
  Deadline deadline = deadline_of(timeout);
  std::string what = str_cat("TLS handshake with ", peer_);
  std::string first;  // the peer's first bytes, to recognise a plain HTTP server
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
    std::string why;
    if (err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ) {
      long v = ctx_->verify() ? SSL_get_verify_result(ssl_) : X509_V_OK;
      if (v != X509_V_OK) {
        why = str_cat("certificate verify failed: ", X509_verify_cert_error_string(v));
        if (!cert_names_.empty())
          why = str_cat(why, " (certificate is valid for ", cert_names_, ")");
        ERR_clear_error();
      } else if (first.starts_with("HTTP/")) {
        why = "server gave HTTP response to HTTPS client";
        ERR_clear_error();
      } else if (err == SSL_ERROR_ZERO_RETURN) {
        why = "server closed the connection during the TLS handshake";
      } else {
        why = openssl_errors();
        if (why.empty()) why = "TLS protocol error";
      }
    }
    // Our ClientHello, Finished, or the alert that reports a failure.
    int f = co_await flush(left_of(deadline));
    if (!why.empty()) co_return fail(Errc::unavailable, str_cat(what, ": ", why));
    if (f == -ECANCELED || f == -ETIME) co_return fail(Errc::timeout, str_cat(what, ": timed out"));
    if (f < 0) co_return sys_fail(-f, what);
    if (err == SSL_ERROR_NONE) co_return Result<void>{};
    if (expired(deadline)) co_return fail(Errc::timeout, str_cat(what, ": timed out"));
    int n = co_await fill(left_of(deadline));
    if (n == 0)
      co_return fail(Errc::unavailable,
                     str_cat(what, ": server closed the connection during the TLS handshake"));
    if (n == -ECANCELED || n == -ETIME) co_return fail(Errc::timeout, str_cat(what, ": timed out"));
    if (n < 0) co_return sys_fail(-n, what);
    if (first.size() < 8)
      first.append(in_.get(), std::min<size_t>(static_cast<size_t>(n), 8 - first.size()));
  }
}

Task<int> TlsTransport::flush(std::optional<Duration> timeout) {
  // A read that must answer the peer (a TLS 1.3 KeyUpdate) while a write is
  // on its way leaves its record to that write; two writes wait in turn.
  if (flushing_) co_return 0;
  flushing_ = true;
  int rc = 0;
  while (BIO_ctrl_pending(net_out_) > 0) {
    out_.resize(BIO_ctrl_pending(net_out_));
    int got = BIO_read(net_out_, out_.data(), static_cast<int>(out_.size()));
    if (got <= 0) break;
    out_.resize(static_cast<size_t>(got));
    rc = co_await Transport::write_all(out_, timeout);
    if (rc < 0) break;
  }
  flushing_ = false;
  co_return rc;
}

Task<int> TlsTransport::fill(std::optional<Duration> timeout) {
  if (timeout && timeout->count() <= 0) co_return -ECANCELED;
  int n = co_await Transport::read(in_.get(), kInBuffer, timeout);
  if (n > 0) BIO_write(net_in_, in_.get(), n);
  co_return n;
}

Task<int> TlsTransport::read(char* buf, size_t len, std::optional<Duration> timeout) {
  if (len == 0) co_return 0;
  len = std::min<size_t>(len, INT_MAX);
  Deadline deadline = deadline_of(timeout);
  for (;;) {
    ERR_clear_error();
    size_t got = 0;
    int rc = SSL_read_ex(ssl_, buf, len, &got);
    if (rc == 1) co_return static_cast<int>(got);
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_ZERO_RETURN) co_return 0;
    if (err != SSL_ERROR_WANT_READ) {
      last_error_ = openssl_errors();
      if (last_error_.empty()) last_error_ = "TLS protocol error";
      co_return -EPROTO;
    }
    if (BIO_ctrl_pending(net_out_) > 0) {
      int f = co_await flush(left_of(deadline));
      if (f < 0) co_return f;
    }
    // A TCP EOF without close_notify also ends the stream: HTTP framing
    // tells a truncated message from a complete one.
    if (eof_) co_return 0;
    int n = co_await fill(left_of(deadline));
    if (n == 0) eof_ = true;
    if (n < 0) co_return n;
  }
}

Task<int> TlsTransport::write_plain(std::string_view data, std::optional<Duration> timeout) {
  while (flushing_) co_await io::sleep(std::chrono::milliseconds(1));
  while (!data.empty()) {
    ERR_clear_error();
    size_t written = 0;
    int rc = SSL_write_ex(ssl_, data.data(), std::min(data.size(), kWriteChunk), &written);
    if (rc != 1) {
      last_error_ = openssl_errors();
      if (last_error_.empty()) last_error_ = "TLS connection is closed";
      co_return -EPROTO;
    }
    data.remove_prefix(written);
    int f = co_await flush(timeout);
    if (f < 0) co_return f;
  }
  co_return 0;
}

Task<int> TlsTransport::write_all(std::string_view data, std::optional<Duration> timeout) {
  int rc = co_await write_plain(data, timeout);
  co_return rc;
}

Task<int> TlsTransport::write_all_v(std::span<const iovec> parts, std::optional<Duration> timeout) {
  // Small parts (a chunk header, its CRLF) share a record instead of each
  // costing one.
  std::string stage;
  for (const iovec& v : parts) {
    std::string_view p(static_cast<const char*>(v.iov_base), v.iov_len);
    while (!p.empty()) {
      if (stage.empty() && p.size() >= kCoalesce) {
        int rc = co_await write_plain(p, timeout);
        if (rc < 0) co_return rc;
        break;
      }
      size_t take = std::min(p.size(), kCoalesce - stage.size());
      stage.append(p.substr(0, take));
      p.remove_prefix(take);
      if (stage.size() == kCoalesce) {
        int rc = co_await write_plain(stage, timeout);
        if (rc < 0) co_return rc;
        stage.clear();
      }
    }
  }
  if (!stage.empty()) {
    int rc = co_await write_plain(stage, timeout);
    if (rc < 0) co_return rc;
  }
  co_return 0;
}

void TlsTransport::shutdown_write() {
  if (ssl_ && !flushing_ && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify; reading goes on
    ERR_clear_error();
    // The alert is a few dozen bytes: it fits the socket buffer unless the
    // peer stopped reading, and then it does not matter.
    char alert[256];
    int n = BIO_read(net_out_, alert, sizeof alert);
    if (n > 0) ::send(fd_.get(), alert, static_cast<size_t>(n), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::shutdown(fd_.get(), SHUT_WR);
}

}  // namespace berth::io::http
