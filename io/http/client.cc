#include "io/http/client.h"

#include <chrono>

#include "core/base/strings.h"

namespace berth::io::http {

ClientConnection::ClientConnection(std::unique_ptr<Transport> t, std::string host_header)
    : transport_(std::move(t)),
      host_(std::move(host_header)),
      reader_(MessageReader::Kind::response, transport_.get(),
              MessageReader::Limits{.max_head = 256 * 1024, .body_window = 256 * 1024}) {}

ClientConnection::~ClientConnection() = default;

Task<Result<std::unique_ptr<ClientConnection>>> ClientConnection::open(
    Endpoint ep, std::optional<Duration> timeout) {
  auto fd = co_await io::connect(ep, timeout);
  if (!fd) co_return std::unexpected(fd.error());
  std::string host = ep.kind == Endpoint::Kind::unix_socket ? std::string("api.moby.localhost")
                                                            : str_cat(ep.host, ":", ep.port);
  co_return std::make_unique<ClientConnection>(std::make_unique<Transport>(std::move(*fd)),
                                               std::move(host));
}

Task<Result<std::unique_ptr<ClientConnection>>> ClientConnection::open(
    Endpoint ep, std::optional<Duration> timeout, std::shared_ptr<TlsContext> tls,
    std::string server_name) {
  if (!tls) {
    auto plain = co_await open(std::move(ep), timeout);
    co_return plain;
  }
  auto start = std::chrono::steady_clock::now();
  auto fd = co_await io::connect(ep, timeout);
  if (!fd) co_return std::unexpected(fd.error());
  std::optional<Duration> left = timeout;
  if (timeout) {
    left =
        *timeout - std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - start);
    if (left->count() < 0) left = Duration(0);
  }
  if (server_name.empty()) server_name = ep.kind == Endpoint::Kind::tcp ? ep.host : "localhost";
  auto t = co_await TlsTransport::handshake(std::move(*fd), std::move(tls), std::move(server_name),
                                            left);
  if (!t) co_return std::unexpected(std::move(t.error()));
  std::string host = ep.kind == Endpoint::Kind::unix_socket ? std::string("api.moby.localhost")
                                                            : str_cat(ep.host, ":", ep.port);
  co_return std::make_unique<ClientConnection>(std::move(*t), std::move(host));
}

Task<Result<void>> ClientConnection::send(const ClientRequest& req) {
  std::string head;
  head.reserve(256 + req.target.size());
  head.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\n");
  if (!find_header(req.headers, "Host")) head.append("Host: ").append(host_).append("\r\n");
  for (const auto& [k, v] : req.headers) head.append(k).append(": ").append(v).append("\r\n");
  if (req.chunked_body) {
    head.append("Transfer-Encoding: chunked\r\n");
  } else if (!req.body.empty() || req.force_length) {
    head.append("Content-Length: ");
    str_append(head, req.body.size());
    head.append("\r\n");
  }
  head.append("\r\n");
  head_request_ = req.method == "HEAD";
  int rc;
  if (!req.chunked_body && !req.body.empty()) {
    iovec iov[2] = {{head.data(), head.size()},
                    {const_cast<char*>(req.body.data()), req.body.size()}};
    rc = co_await transport_->write_all_v(iov, std::nullopt);
  } else {
    rc = co_await transport_->write_all(head, std::nullopt);
  }
  if (rc < 0) {
    broken_ = true;
    co_return sys_fail(-rc, "send request");
  }
  co_return Result<void>{};
}

Task<Result<void>> ClientConnection::write_body(std::string_view data) {
  if (data.empty()) co_return Result<void>{};
  char head[24];
  int n = std::snprintf(head, sizeof head, "%zx\r\n", data.size());
  iovec iov[3] = {{head, static_cast<size_t>(n)},
                  {const_cast<char*>(data.data()), data.size()},
                  {const_cast<char*>("\r\n"), 2}};
  int rc = co_await transport_->write_all_v(iov, std::nullopt);
  if (rc < 0) {
    broken_ = true;
    co_return sys_fail(-rc, "send request body");
  }
  co_return Result<void>{};
}

Task<Result<void>> ClientConnection::end_body() {
  int rc = co_await transport_->write_all("0\r\n\r\n", std::nullopt);
  if (rc < 0) {
    broken_ = true;
    co_return sys_fail(-rc, "send request body");
  }
  co_return Result<void>{};
}

Task<Result<void>> ClientConnection::read_head(std::optional<Duration> timeout) {
  for (;;) {
    reader_.set_no_body(head_request_);
    auto r = co_await reader_.read_head(timeout, timeout);
    if (!r) {
      broken_ = true;
      if (r.error().code == Errc::cancelled)
        co_return fail(Errc::unavailable, "server closed the connection");
      co_return std::unexpected(r.error());
    }
    int s = reader_.status();
    if (s >= 100 && s < 200 && s != 101) continue;
    co_return Result<void>{};
  }
}

Task<Result<std::string_view>> ClientConnection::read_body(std::optional<Duration> timeout) {
  auto r = co_await reader_.read_body(timeout);
  if (!r) broken_ = true;
  co_return r;
}

Task<Result<std::string>> ClientConnection::read_body_all(size_t limit,
                                                          std::optional<Duration> timeout) {
  auto r = co_await reader_.read_body_all(limit, timeout);
  if (!r) broken_ = true;
  co_return r;
}

}  // namespace berth::io::http
