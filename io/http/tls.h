// TLS on the reactor: TlsContext is one configured OpenSSL SSL_CTX (trust
// store, verification, optional client certificate); TlsTransport is a
// client-side TLS stream over a connected non-blocking socket.
//
// OpenSSL never touches the socket: it works on two memory BIOs, and every
// byte moves between them and the socket through the base Transport's
// io_uring reads and writes, so nothing blocks the reactor thread.
//
// Thread-safety: a TlsContext is immutable once made and may be shared by
// any number of threads and connections (shared_ptr). A TlsTransport belongs
// to one reactor thread, like every Transport; one read and one write may be
// in flight at once (a hijacked stream), never two of either.
//
// Errors: handshake failures read "TLS handshake with HOST:PORT: <why>", with
// OpenSSL's verify reason for a refused certificate ("certificate verify
// failed: self-signed certificate"); Errc::timeout when the deadline passed,
// the errno's code for a socket error, Errc::unavailable for a refused or
// broken handshake (a bad certificate, the server closed, a plain HTTP
// server, a TLS alert). After the handshake, read()/write_all() keep
// the Transport contract: a close_notify or a TCP EOF reads as 0, a timeout
// as -ECANCELED, a TLS protocol failure as -EPROTO (last_error() says why).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/base/error.h"
#include "core/base/unique_fd.h"
#include "io/http/transport.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace berth::io::http {

struct TlsConfig {
  bool verify = true;     // false: accept any certificate (docker's insecure registries)
  std::string ca_file;    // extra CA bundle (PEM) trusted besides the system store; "" none
  std::string cert_file;  // optional client certificate chain (PEM)
  std::string key_file;   // its private key (PEM); "" = in cert_file
};

class TlsContext {
 public:
  // Trusts the system CA store (SSL_CTX_set_default_verify_paths) plus
  // cfg.ca_file; TLS 1.2 or newer. Fails on unreadable or invalid files.
  static Result<std::shared_ptr<TlsContext>> create(const TlsConfig& cfg);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  bool verify() const { return verify_; }

 private:
  TlsContext(SSL_CTX* ctx, bool verify) : ctx_(ctx), verify_(verify) {}
  SSL_CTX* ctx_;
  bool verify_;
};

class TlsTransport : public Transport {
 public:
  // Runs the client handshake over an already connected non-blocking fd on
  // the current reactor. server_name is sent as SNI (names only) and is what
  // the certificate must match when verifying: a DNS name, or an IP address
  // literal. timeout bounds the whole handshake.
  static Task<Result<std::unique_ptr<Transport>>> handshake(unique_fd fd,
                                                            std::shared_ptr<TlsContext> ctx,
                                                            std::string server_name,
                                                            std::optional<Duration> timeout);
  ~TlsTransport() override;

  Task<int> read(char* buf, size_t len, std::optional<Duration> timeout) override;
  Task<int> write_all(std::string_view data, std::optional<Duration> timeout) override;
  Task<int> write_all_v(std::span<const iovec> parts, std::optional<Duration> timeout) override;
  // Sends close_notify (best effort, without waiting) and half-closes.
  void shutdown_write() override;

  // Why the last read or write failed with -EPROTO (OpenSSL's reason).
  const std::string& last_error() const { return last_error_; }

 private:
  TlsTransport(unique_fd fd, std::shared_ptr<TlsContext> ctx, std::string peer);
  Result<void> setup(const std::string& server_name);
  Task<Result<void>> run_handshake(std::optional<Duration> timeout);
  // Moves what OpenSSL wrote to the socket; 0 or -errno. Only one flush runs
  // at a time; a second caller leaves its bytes to the running one.
  Task<int> flush(std::optional<Duration> timeout);
  // Reads once from the socket into OpenSSL; >0, 0 at EOF, -errno.
  Task<int> fill(std::optional<Duration> timeout);
  // Encrypts data (whole records) and sends them.
  Task<int> write_plain(std::string_view data, std::optional<Duration> timeout);

  std::shared_ptr<TlsContext> ctx_;
  std::string peer_;  // "host:port" for messages
  SSL* ssl_ = nullptr;
  BIO* net_in_ = nullptr;   // socket -> OpenSSL (owned by ssl_)
  BIO* net_out_ = nullptr;  // OpenSSL -> socket (owned by ssl_)
  bool flushing_ = false;
  bool eof_ = false;
  std::string out_;  // ciphertext on its way to the socket
  std::unique_ptr<char[]> in_;
  std::string last_error_;
  std::string cert_names_;  // of a certificate that failed the name check
};

}  // namespace berth::io::http
