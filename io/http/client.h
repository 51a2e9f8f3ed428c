// ClientConnection: one HTTP/1.1 connection from us to a server, on the
// current reactor. Requests go out one at a time; the response head is read
// with the same MessageReader the server uses, its body streamed in chunks.
// After a 101/hijack the raw transport and any bytes read past the head are
// available for a bidirectional stream.
//
// Owned by one reactor thread. The transport (plain or TLS) is owned here.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "io/http/message.h"
#include "io/http/reader.h"
#include "io/http/tls.h"
#include "io/http/transport.h"
#include "io/net.h"

namespace berth::io::http {

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";  // origin-form: path?query
  Headers headers;
  std::string body;           // sent with Content-Length when non-empty
  bool chunked_body = false;  // body follows via write_body()/end_body()
  bool force_length = false;  // send Content-Length: 0 for an empty body
};

class ClientConnection {
 public:
  ClientConnection(std::unique_ptr<Transport> t, std::string host_header);
  ~ClientConnection();

  static Task<Result<std::unique_ptr<ClientConnection>>> open(Endpoint ep,
                                                              std::optional<Duration> timeout);
  // As open(), over TLS when tls is set: server_name is what the certificate
  // must match (and the SNI); "" means the endpoint's host. timeout bounds
  // the connect and the handshake together. The Host header stays host:port.
  static Task<Result<std::unique_ptr<ClientConnection>>> open(Endpoint ep,
                                                              std::optional<Duration> timeout,
                                                              std::shared_ptr<TlsContext> tls,
                                                              std::string server_name);

  // Writes the request (head and, unless chunked_body, its body).
  Task<Result<void>> send(const ClientRequest& req);
  // For chunked_body requests: one chunk / the end.
  Task<Result<void>> write_body(std::string_view data);
  Task<Result<void>> end_body();
  // Reads the response head (skips interim 1xx other than 101).
  Task<Result<void>> read_head(std::optional<Duration> timeout);
  int status() const { return reader_.status(); }
  std::optional<std::string_view> header(std::string_view name) const {
    return reader_.header(name);
  }
  const std::vector<HeaderView>& headers() const { return reader_.headers(); }
  Task<Result<std::string_view>> read_body(std::optional<Duration> timeout = std::nullopt);
  Task<Result<std::string>> read_body_all(size_t limit,
                                          std::optional<Duration> timeout = std::nullopt);
  // True if another request may follow on this connection.
  bool reusable() const { return !broken_ && reader_.keep_alive() && reader_.body_complete(); }

  Transport& transport() { return *transport_; }
  std::string_view leftover() const { return reader_.buffered(); }

 private:
  std::unique_ptr<Transport> transport_;
  std::string host_;
  MessageReader reader_;
  bool head_request_ = false;
  bool broken_ = false;
};

}  // namespace berth::io::http
